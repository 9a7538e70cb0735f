//! Cheap site polling: a site that offers an ETag on `GET /services` is
//! asked conditionally, answers 304 while it holds exactly the revision,
//! and is read whole (and healed) the moment its services change.

use std::time::Duration;

use serde_json::json;

use crate::support::syncbed::{SyncBed, put_service, site_services};
use crate::support::wait_for;

const EAST: &str = "east-token-1";
const CONVERGE: Duration = Duration::from_secs(45);

/// The statuses of the site's `GET /services` answers, in order.
fn listings(site: &crate::support::site::ReferenceSite) -> Vec<u64> {
    site.requests()
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == "/services")
        .filter_map(|r| r["status"].as_u64())
        .collect()
}

#[test]
fn a_site_with_etags_is_listed_whole_only_when_its_services_change() {
    let mut bed = SyncBed::new("listing", &[("roads", 1), ("parcels", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);

    // At rest the listing is conditional: five 304s in a row.
    let from = listings(&bed.east).len();
    wait_for("five unchanged listings in a row", CONVERGE, || {
        let l = listings(&bed.east);
        let tail = l.get(from..)?;
        (tail.len() >= 5 && tail[tail.len() - 5..].iter().all(|s| *s == 304)).then_some(())
    });

    // An edit by hand changes the tag: the next listing is whole (200),
    // the drift is seen and healed.
    let before_edit = listings(&bed.east).len();
    put_service(
        &bed.east,
        EAST,
        "roads",
        &json!({"name": "roads", "version": 99}),
    );
    wait_for("east's roads healed", CONVERGE, || {
        (site_services(&bed.east, EAST)["roads"]["version"] == 1).then_some(())
    });
    let after = listings(&bed.east);
    assert!(
        after[before_edit..].contains(&200),
        "no whole listing after the edit: {:?}",
        &after[before_edit..]
    );
    // And it goes quiet again.
    let healed = listings(&bed.east).len();
    wait_for("unchanged listings again", CONVERGE, || {
        let l = listings(&bed.east);
        let tail = l.get(healed..)?;
        (tail.len() >= 3 && tail[tail.len() - 3..].iter().all(|s| *s == 304)).then_some(())
    });
}
