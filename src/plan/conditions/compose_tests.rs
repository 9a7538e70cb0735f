//! `compose` as a whole: transition times measured against the last trip,
//! every generation stamped, one Event per change.

use super::*;

fn find_in<'a>(s: &'a SiteHAPairStatus, t: &str) -> &'a Condition {
    find(&s.conditions, t).expect("condition")
}

/// A held automatic failover, trip after trip: PromotionBlocked keeps the
/// time it became True, and one Event says so, not one per trip.
#[test]
fn a_held_failover_keeps_its_transition_time_and_one_event_across_trips() {
    let held = Findings {
        failover_hold: Some((FailoverHold::AntiFlap, "east failed; too soon".into())),
        ..at_rest()
    };
    let first = compose(&[], &spec(), &data(), &held, 1, now(0));
    let blocked = find_in(&first.status, types::PROMOTION_BLOCKED).clone();
    assert_eq!(
        (blocked.status, blocked.reason.as_str()),
        (True, "AntiFlap")
    );
    assert!(first.events.iter().any(|e| e.reason == "FailoverBlocked"));
    let next = compose(
        &first.status.conditions,
        &spec(),
        &data(),
        &held,
        1,
        now(10),
    );
    let again = find_in(&next.status, types::PROMOTION_BLOCKED);
    assert_eq!(again.last_transition_time, blocked.last_transition_time);
    assert!(next.events.is_empty(), "{:?}", next.events);
}

/// At rest, a trip composes exactly the status the last one wrote.
#[test]
fn a_pair_at_rest_composes_the_status_it_had() {
    let first = compose(&[], &spec(), &data(), &at_rest(), 1, now(0));
    let mut data2 = data();
    data2.conditions = first.status.conditions.clone();
    let next = compose(
        &first.status.conditions,
        &spec(),
        &data2,
        &at_rest(),
        1,
        now(30),
    );
    assert_eq!(next.status, first.status);
    assert!(next.events.is_empty());
}

/// Every condition carries the generation it was composed for, kept ones
/// too, and a changed status moves only its own transition time.
#[test]
fn a_change_moves_one_transition_time_and_every_generation() {
    let first = compose(&[], &spec(), &data(), &at_rest(), 1, now(0));
    let down = with_sync(|s| s.report.sites = vec![site("east"), unreachable("west")]);
    let next = compose(
        &first.status.conditions,
        &spec(),
        &data(),
        &down,
        2,
        now(60),
    );
    assert!(
        next.status
            .conditions
            .iter()
            .all(|c| c.observed_generation == 2)
    );
    let moved: Vec<&str> = next
        .status
        .conditions
        .iter()
        .filter(|c| c.last_transition_time != find_in(&first.status, &c.type_).last_transition_time)
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        moved,
        vec![
            types::READY,
            types::DEGRADED,
            types::IN_SYNC,
            types::HEALTHY
        ]
    );
    assert!(
        next.events
            .iter()
            .any(|e| e.reason == "SiteUnreachable" && e.warning)
    );
}

/// Events come with a change only: a claim again when it names another site.
#[test]
fn a_claim_is_one_event_until_it_names_another_site() {
    let claim = |who: &str| Findings {
        refusal: Some(Refusal::Claimed(vec![format!(
            "site west is managed by {who}"
        )])),
        ..Findings::default()
    };
    let first = compose(&[], &spec(), &data(), &claim("a/b"), 1, now(0));
    assert_eq!(first.events.len(), 1);
    let same = compose(
        &first.status.conditions,
        &spec(),
        &data(),
        &claim("a/b"),
        1,
        now(1),
    );
    assert!(same.events.is_empty());
    let other = compose(
        &first.status.conditions,
        &spec(),
        &data(),
        &claim("c/d"),
        1,
        now(2),
    );
    assert_eq!(other.events.len(), 1);
}

/// SourceVerified only for a pair that verifies: False naming the commit
/// (and SourceReady False as for a rejected revision), True naming the key,
/// kept while no revision is checked, absent without `verify`.
#[test]
fn source_verified_says_what_the_signature_check_found_only_when_asked() {
    let plain = compose(&[], &spec(), &data(), &at_rest(), 1, now(0));
    assert!(find(&plain.status.conditions, types::SOURCE_VERIFIED).is_none());
    let mut verifying = spec();
    if let Some(s) = verifying.source.as_mut() {
        s.git.verify = serde_json::from_value(serde_json::json!({"secretRef": {"name": "keys"}}))
            .expect("verify");
    }
    let refused = synced(
        SourceReport::Unverified {
            revision: "0123456789abcdef".into(),
            message: "commit 0123456789abcdef is not signed".into(),
        },
        vec![site("east"), site("west")],
    );
    let first = compose(&[], &verifying, &data(), &refused, 1, now(0));
    let v = find_in(&first.status, types::SOURCE_VERIFIED);
    assert_eq!((v.status, v.reason.as_str()), (False, "Unverified"));
    assert!(
        v.message.contains("commit 0123456789abcdef is not signed"),
        "{}",
        v.message
    );
    let ready = find_in(&first.status, types::SOURCE_READY);
    assert_eq!(
        (ready.status, ready.reason.as_str()),
        (False, "InvalidRevision")
    );
    let signed = synced(
        SourceReport::Fetched {
            revision: "abcdef0123456789".into(),
            fetched_at: "t".into(),
            signed_by: Some("OpenPGP key 3AA5".into()),
        },
        vec![site("east"), site("west")],
    );
    let next = compose(
        &first.status.conditions,
        &verifying,
        &data(),
        &signed,
        1,
        now(5),
    );
    let v = find_in(&next.status, types::SOURCE_VERIFIED);
    assert_eq!((v.status, v.reason.as_str()), (True, "Verified"));
    assert!(v.message.contains("abcdef0123456789") && v.message.contains("OpenPGP key 3AA5"));
    // A trip that checked nothing (a failed fetch) keeps the last verdict.
    let failed = synced(
        SourceReport::Failed {
            message: "down".into(),
        },
        vec![site("east"), site("west")],
    );
    let kept = compose(
        &next.status.conditions,
        &verifying,
        &data(),
        &failed,
        1,
        now(9),
    );
    assert_eq!(find_in(&kept.status, types::SOURCE_VERIFIED).status, True);
}
