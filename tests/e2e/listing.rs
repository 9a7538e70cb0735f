//! Cheap site polling: a site that offers an ETag on `GET /services` is
//! asked conditionally, answers 304 while it holds exactly the revision,
//! and is read whole (and healed) the moment its services change. A site
//! that sends no ETag is listed whole once per source interval at rest,
//! and its drift is healed at the next of those listings.

use std::time::Duration;

use serde_json::json;

use crate::support::syncbed::{SyncBed, put_service, site_services};
use crate::support::{wait_for, webhook};

const EAST: &str = "east-token-1";
const WEST: &str = "west-token-2";
const CONVERGE: Duration = Duration::from_secs(45);

/// The statuses of the site's `GET /services` answers, in order.
fn listings(site: &crate::support::site::ReferenceSite) -> Vec<u64> {
    site.requests()
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == "/services")
        .filter_map(|r| r["status"].as_u64())
        .collect()
}

/// Wait until the site's last `n` listings since its `from`-th were all
/// answered 304.
fn wait_unchanged_in_a_row(site: &crate::support::site::ReferenceSite, from: usize, n: usize) {
    wait_for(
        &format!("{n} unchanged listings in a row"),
        CONVERGE,
        || {
            let l = listings(site);
            let tail = l.get(from..)?;
            (tail.len() >= n && tail[tail.len() - n..].iter().all(|s| *s == 304)).then_some(())
        },
    );
}

#[test]
fn a_site_with_etags_is_listed_whole_only_when_its_services_change() {
    let mut bed = SyncBed::new("listing", &[("roads", 1), ("parcels", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);

    // At rest the listing is conditional: five 304s in a row.
    wait_unchanged_in_a_row(&bed.east, listings(&bed.east).len(), 5);

    // An edit by hand changes the tag: the next listing is whole (200),
    // the drift is seen and healed.
    let before_edit = listings(&bed.east).len();
    edit_east_by_hand_and_wait_healed(&bed);
    let after = listings(&bed.east);
    assert!(
        after[before_edit..].contains(&200),
        "no whole listing after the edit: {:?}",
        &after[before_edit..]
    );
    // And it goes quiet again.
    wait_unchanged_in_a_row(&bed.east, listings(&bed.east).len(), 3);
}

/// Someone edits east's roads by hand; wait until the operator put it back.
fn edit_east_by_hand_and_wait_healed(bed: &SyncBed) {
    put_service(
        &bed.east,
        EAST,
        "roads",
        &json!({"name": "roads", "version": 99}),
    );
    wait_for("east's roads healed", CONVERGE, || {
        (site_services(&bed.east, EAST)["roads"]["version"] == 1).then_some(())
    });
}

/// The site's calls from `from` on: GET /services answers up to its first
/// write of a service, and whether that write came.
fn listings_before_first_write(
    site: &crate::support::site::ReferenceSite,
    from: usize,
) -> (Vec<u64>, bool) {
    let mut seen = Vec::new();
    for r in site.requests().iter().skip(from) {
        if r["method"] == "PUT"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/services/"))
        {
            return (seen, true);
        }
        if r["method"] == "GET" && r["path"] == "/services" {
            seen.extend(r["status"].as_u64());
        }
    }
    (seen, false)
}

#[test]
fn a_push_is_synced_from_the_tag_the_revision_before_matched_without_a_whole_listing() {
    let mut bed = SyncBed::new("listing-push", &[("roads", 1), ("parcels", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);
    // Both sites' tags are known to match the first revision.
    for site in [&bed.east, &bed.west] {
        wait_unchanged_in_a_row(site, listings(site).len(), 3);
    }
    let from = [bed.east.requests().len(), bed.west.requests().len()];

    bed.repo.write(
        "services/roads.yaml",
        &crate::support::syncbed::service("roads", 2),
    );
    let rev2 = bed.repo.commit("roads v2");
    bed.wait_in_sync(&rev2, CONVERGE);

    // Each site was asked on the old tag (304: it still held the first
    // revision, which the operator has parsed) and written at once: no
    // whole listing between the push and the write.
    for (name, site, token, from) in [
        ("east", &bed.east, EAST, from[0]),
        ("west", &bed.west, WEST, from[1]),
    ] {
        let (answers, wrote) = listings_before_first_write(site, from);
        assert!(wrote, "{name}: roads v2 was not written");
        assert!(
            !answers.is_empty() && answers.iter().all(|s| *s == 304),
            "{name}: listings between the push and the write: {answers:?}"
        );
        // The write changed the site's tag: the next trips read it whole
        // once, and then go quiet on the new revision's tag.
        wait_for(
            "a whole listing after the write, then unchanged ones",
            CONVERGE,
            || {
                let after_write: Vec<u64> = site.requests()[from..]
                    .iter()
                    .skip_while(|r| r["method"] != "PUT")
                    .filter(|r| r["method"] == "GET" && r["path"] == "/services")
                    .filter_map(|r| r["status"].as_u64())
                    .collect();
                let first_whole = after_write.iter().position(|s| *s == 200)?;
                let tail = &after_write[first_whole + 1..];
                (tail.len() >= 3 && tail.iter().all(|s| *s == 304)).then_some(())
            },
        );
        // Read by this test last: its own listing is not conditional.
        assert_eq!(site_services(site, token)["roads"]["version"], 2);
    }
}

/// How many `GET path` calls the site took since its `from`-th call.
fn gets_since(site: &crate::support::site::ReferenceSite, from: usize, path: &str) -> usize {
    site.requests()
        .iter()
        .skip(from)
        .filter(|r| r["method"] == "GET" && r["path"] == path)
        .count()
}

/// Wait for ten trips at rest (a GET /mode each) at each site and return
/// how many whole listings each took meanwhile.
fn listings_over_ten_trips(bed: &SyncBed) -> Vec<usize> {
    let from = [bed.east.requests().len(), bed.west.requests().len()];
    [(&bed.east, from[0]), (&bed.west, from[1])]
        .into_iter()
        .map(|(site, from)| {
            wait_for("ten trips at rest", CONVERGE, || {
                (gets_since(site, from, "/mode") >= 10).then_some(())
            });
            gets_since(site, from, "/services")
        })
        .collect()
}

#[test]
fn a_site_without_etags_is_listed_once_per_source_interval_at_rest_and_its_drift_healed() {
    let mut bed = SyncBed::new_without_etags("listing-no-etag", &[("roads", 1), ("parcels", 1)]);
    let git = webhook::start_with_webhook(&mut bed);
    // Health every 1 s (a trip a second), the source every 5 s.
    bed.apply(&bed.pair(&git.url("services")));
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    // At rest: ten trips and one or two whole listings (one per 5 s
    // interval) at each site, where every trip listed before.
    let listed = listings_over_ten_trips(&bed);
    assert!(
        listed.iter().all(|n| (1..=3).contains(n)),
        "whole listings in ten trips at rest (east, west): {listed:?}"
    );

    // An edit by hand is seen at the next interval's listing and healed.
    edit_east_by_hand_and_wait_healed(&bed);

    // A new commit, announced by a webhook, reaches both sites; the push
    // is remembered for as long as the operator runs, and the sites go
    // back to one listing per interval.
    bed.repo.write(
        "services/roads.yaml",
        &crate::support::syncbed::service("roads", 2),
    );
    let rev2 = bed.repo.commit("roads v2");
    let push = webhook::push_body(&git.url("services"));
    let port = bed.op.as_ref().expect("operator").port;
    let signature = webhook::sign(webhook::KEY, push.as_bytes());
    assert_eq!(webhook::post_hook(port, &push, &signature), 202);
    bed.wait_in_sync(&rev2, CONVERGE);
    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        assert_eq!(site_services(site, token)["roads"]["version"], 2);
    }
    let listed = listings_over_ten_trips(&bed);
    assert!(
        listed.iter().all(|n| (1..=3).contains(n)),
        "whole listings in ten trips at rest after the push (east, west): {listed:?}"
    );
}
