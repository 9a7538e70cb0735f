use std::time::Duration;

use super::*;
use crate::api::{SiteMode, SiteStatus};

fn t(s: &str) -> Timestamp {
    format!("2026-01-01T00:{s}Z").parse().expect("time")
}

fn config() -> VerifyConfig {
    VerifyConfig {
        period: Duration::from_secs(60),
        successes: 2,
        interval: Duration::from_secs(5),
        revert: true,
    }
}

fn row(name: &str, health: SiteHealth, mode: SiteMode, epoch: i64) -> SiteStatus {
    SiteStatus {
        name: name.into(),
        health: Some(health),
        mode: Some(mode),
        epoch: Some(epoch),
        ..SiteStatus::default()
    }
}

fn rec(reason: &str) -> PromotionRecord {
    PromotionRecord {
        from: Some("east".into()),
        to: "west".into(),
        reason: reason.into(),
        epoch: 2,
        completed_at: "2026-01-01T00:00:00Z".into(),
        ..PromotionRecord::default()
    }
}

/// West was just promoted from east (epoch 2) and is healthy.
fn promoted() -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("west".into()),
        epoch: 2,
        sites: vec![
            row("east", SiteHealth::Healthy, SiteMode::Passive, 2),
            row("west", SiteHealth::Healthy, SiteMode::Active, 2),
        ],
        history: vec![rec("Manual")],
        ..SiteHAPairStatus::default()
    }
}

fn input<'a>(finished: Option<&'a PromotionRecord>, now: Timestamp) -> VerifyInput<'a> {
    VerifyInput {
        config: Some(config()),
        pair: "gis",
        finished,
        probes: &[],
        ack: None,
        target: "west",
        revert_annotation: None,
        now,
    }
}

fn started() -> SiteHAPairStatus {
    let mut st = promoted();
    let r = rec("Manual");
    apply_verify(&mut st, &input(Some(&r), t("00:00")));
    st
}

#[test]
fn a_completed_planned_promotion_starts_a_verification_checked_from_the_next_trip() {
    let st = started();
    let v = st.verification.as_ref().expect("verifying");
    assert_eq!(
        (v.site.as_str(), v.previous.as_deref()),
        ("west", Some("east"))
    );
    assert_eq!((v.passes, v.required), (0, 2));
    assert_eq!(v.deadline, "2026-01-01T00:01:00Z");
    // A first activation, or a revert, is not verified.
    for reason in ["Initial", "Revert"] {
        let mut st = promoted();
        let r = rec(reason);
        apply_verify(&mut st, &input(Some(&r), t("00:00")));
        assert!(st.verification.is_none(), "{reason}");
    }
    // Off: nothing.
    let mut st = promoted();
    let r = rec("Manual");
    let mut off = input(Some(&r), t("00:00"));
    off.config = None;
    apply_verify(&mut st, &off);
    assert!(st.verification.is_none());
}

#[test]
fn passes_in_a_row_counted_once_per_interval_verify_it() {
    let mut st = started();
    let out = apply_verify(&mut st, &input(None, t("00:01")));
    assert!(out.events.is_empty());
    assert_eq!(st.verification.as_ref().map(|v| v.passes), Some(1));
    // Within the interval: not counted again.
    apply_verify(&mut st, &input(None, t("00:03")));
    assert_eq!(st.verification.as_ref().map(|v| v.passes), Some(1));
    assert!(!check_due(&st, Some(config()), t("00:03")));
    assert_eq!(
        verify_due_in(&st, Some(config()), t("00:03")),
        Some(Duration::from_secs(3))
    );
    let out = apply_verify(&mut st, &input(None, t("00:06")));
    assert!(st.verification.is_none());
    assert!(st.hold.is_none() && out.revert.is_none());
    assert_eq!(out.events[0].reason, "VerificationPassed");
    let done = st.history[0].verification.as_ref().expect("recorded");
    assert_eq!(done.result, VerificationResult::Passed);
}

#[test]
fn a_failed_check_reverts_to_the_previous_active_and_holds() {
    let mut st = started();
    st.sites[1].health = Some(SiteHealth::Unhealthy);
    let out = apply_verify(&mut st, &input(None, t("00:01")));
    let revert = out.revert.as_ref().expect("a revert");
    assert_eq!(revert.to, "east");
    assert!(
        revert
            .why
            .starts_with("VerificationFailed: west failed its check")
    );
    let reasons: Vec<&str> = out.events.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, ["VerificationFailed", "PromotionReverted"]);
    let hold = st.hold.as_ref().expect("held");
    assert_eq!(hold.reason, "VerificationFailed");
    assert_eq!(hold.reverted_to.as_deref(), Some("east"));
    assert!(
        hold.message.contains("sitehapair ack gis"),
        "{}",
        hold.message
    );
    let done = st.history[0].verification.as_ref().expect("recorded");
    assert_eq!(done.result, VerificationResult::Failed);
    assert!(st.verification.is_none());
}

#[test]
fn a_failing_probe_fails_the_check() {
    let mut st = started();
    let probes = [ProbeOutcome {
        url: "http://gis/".into(),
        ok: false,
        detail: "answered 502, expected 200".into(),
    }];
    let mut i = input(None, t("00:01"));
    i.probes = &probes;
    let out = apply_verify(&mut st, &i);
    let revert = out.revert.expect("a revert");
    assert!(
        revert.why.contains("probe http://gis/: answered 502"),
        "{}",
        revert.why
    );
}

#[test]
fn the_deadline_without_enough_passes_is_a_failure() {
    let mut st = started();
    apply_verify(&mut st, &input(None, t("00:01")));
    let out = apply_verify(&mut st, &input(None, t("00:03")));
    assert!(out.revert.is_none());
    let out = apply_verify(&mut st, &input(None, t("01:00")));
    // The check at the deadline passes (2 in a row) ... verified.
    assert_eq!(out.events[0].reason, "VerificationPassed");
    let mut st = started();
    let mut slow = input(None, t("01:01"));
    slow.config = Some(VerifyConfig {
        successes: 5,
        ..config()
    });
    let out = apply_verify(&mut st, &slow);
    assert!(out.revert.is_some(), "{out:?}");
}

#[test]
fn while_held_a_failed_verification_reverts_nothing_and_the_ack_clears_the_hold() {
    let mut st = started();
    st.sites[1].health = Some(SiteHealth::Unhealthy);
    apply_verify(&mut st, &input(None, t("00:01")));
    let since = st.hold.as_ref().map(|h| h.since.clone()).expect("held");
    let hold = st.hold.clone().expect("held");
    let landed = format!(
        "{}: {}",
        hold.reverted_to.unwrap_or_default(),
        hold.revert_why.unwrap_or_default()
    );
    // A person promotes west again while held: verified, not reverted.
    let r = PromotionRecord {
        epoch: 4,
        ..rec("Manual")
    };
    st.epoch = 4;
    st.history.push(r.clone());
    apply_verify(&mut st, &input(Some(&r), t("00:10")));
    let mut i = input(None, t("00:11"));
    i.revert_annotation = Some(&landed);
    let out = apply_verify(&mut st, &i);
    assert!(out.revert.is_none(), "{out:?}");
    assert_eq!(out.events[0].reason, "VerificationFailed");
    assert!(out.events[0].note.contains("held already"));
    // A wrong value acknowledges nothing; the hold's since does.
    let mut i = input(None, t("00:12"));
    i.revert_annotation = Some(&landed);
    i.ack = Some(("2020-01-01T00:00:00Z", "user bob"));
    apply_verify(&mut st, &i);
    assert!(st.hold.is_some());
    i.ack = Some((since.as_str(), "user alice"));
    let out = apply_verify(&mut st, &i);
    assert!(st.hold.is_none());
    assert_eq!(out.events[0].reason, "HoldAcknowledged");
    assert!(out.events[0].note.contains("user alice"));
}

#[test]
fn a_revert_whose_spec_change_did_not_land_is_asked_again() {
    let mut st = started();
    st.sites[1].health = Some(SiteHealth::Unhealthy);
    let first = apply_verify(&mut st, &input(None, t("00:01")))
        .revert
        .expect("revert");
    // spec.activeSite still names west, the annotation never landed.
    let again = apply_verify(&mut st, &input(None, t("00:02")));
    assert_eq!(again.revert.as_ref(), Some(&first));
    // Landed: not again.
    let value = format!("{}: {}", first.to, first.why);
    let mut i = input(None, t("00:03"));
    i.revert_annotation = Some(&value);
    assert!(apply_verify(&mut st, &i).revert.is_none());
    // A person chose another site meanwhile: not again.
    let mut i = input(None, t("00:03"));
    i.target = "east";
    assert!(apply_verify(&mut st, &i).revert.is_none());
}

#[test]
fn a_newer_promotion_ends_the_verification_unjudged() {
    let mut st = started();
    st.promotion = Some(crate::api::PromotionStatus::default());
    let out = apply_verify(&mut st, &input(None, t("00:01")));
    assert!(st.verification.is_none() && out.events.is_empty() && out.revert.is_none());
}

#[test]
fn cleaned_up_once_every_other_site_is_passive_at_the_epoch() {
    let mut st = promoted();
    st.sites[0].mode = Some(SiteMode::Unknown);
    note_cleaned_up(&mut st, t("00:01"));
    assert!(st.history[0].cleaned_up_at.is_none());
    st.sites[0].mode = Some(SiteMode::Passive);
    note_cleaned_up(&mut st, t("00:02"));
    assert_eq!(
        st.history[0].cleaned_up_at.as_deref(),
        Some("2026-01-01T00:00:02Z")
    );
    note_cleaned_up(&mut st, t("00:09"));
    assert_eq!(
        st.history[0].cleaned_up_at.as_deref(),
        Some("2026-01-01T00:00:02Z")
    );
}

#[test]
fn a_failed_check_reverts_nothing_when_a_person_has_chosen_another_site_since() {
    let mut st = started();
    st.sites[1].health = Some(SiteHealth::Unhealthy);
    let mut inp = input(None, t("00:01"));
    inp.target = "north";
    let out = apply_verify(&mut st, &inp);
    assert!(out.revert.is_none(), "a person's choice was overridden");
    assert!(
        out.events[0]
            .note
            .contains("spec.activeSite names north now, a person's choice"),
        "{}",
        out.events[0].note
    );
    assert!(st.hold.is_some(), "a failed verification still holds");
}

#[test]
fn a_failed_check_reverts_nothing_to_a_previous_active_that_is_not_healthy() {
    let mut st = started();
    st.sites[1].health = Some(SiteHealth::Unhealthy);
    st.sites[0].health = Some(SiteHealth::Unreachable);
    let out = apply_verify(&mut st, &input(None, t("00:01")));
    assert!(out.revert.is_none(), "reverted onto a failing site");
    assert!(
        out.events[0]
            .note
            .contains("the previous active east does not answer healthy"),
        "{}",
        out.events[0].note
    );
    let hold = st.hold.as_ref().expect("held");
    assert!(hold.reverted_to.is_none(), "{hold:?}");
}

#[test]
fn a_completion_whose_trip_died_before_the_verification_started_is_verified_from_the_next() {
    // The completion was written (by the hooks' record) and the trip died:
    // the next trip has no `finished`, and no verification in status.
    let mut st = promoted();
    let out = apply_verify(&mut st, &input(None, t("00:10")));
    assert!(out.events.is_empty());
    let v = st.verification.as_ref().expect("verification started");
    assert_eq!((v.site.as_str(), v.epoch), ("west", 2));
    // Not for a promotion older than one period, nor one judged already.
    let mut old = promoted();
    apply_verify(&mut old, &input(None, t("01:30")));
    assert!(old.verification.is_none(), "an old promotion was verified");
    let mut judged = started();
    judged.verification = None;
    judged.history[0].verification = Some(crate::api::VerificationRecord {
        result: VerificationResult::Passed,
        ..Default::default()
    });
    apply_verify(&mut judged, &input(None, t("00:10")));
    assert!(judged.verification.is_none(), "verified twice");
}
