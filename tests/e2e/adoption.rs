//! Adoption without surprise (spec.sync.adopt): a new pair over two sites
//! that already publish services of their own. A first sync that only
//! creates runs at once (west); one that would replace or delete (east)
//! waits, writing nothing, with every write listed in
//! status.sites[].adoptionPlan, in `sitehapair status` and in an Event,
//! until the annotation `sitehapair.io/approve-adoption: <revision>`
//! accepts it; then the site is brought to git and the pair is in sync.
//! Until that first sync, the Prerequisites condition says what
//! `sitehapair check` would find on the sites (the same judge).

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::syncbed::{SyncBed, put_service, set_health, site_services};
use crate::support::{condition, stdout, testbed, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

#[test]
fn a_first_sync_that_would_replace_or_delete_waits_for_its_plan_to_be_accepted_and_writes_nothing_before()
 {
    let mut bed = SyncBed::new("adopt", &[("roads", 2), ("rivers", 1)]);
    // East (active) publishes an older roads and a service git lacks.
    put_service(
        &bed.east,
        "east-token-1",
        "roads",
        &json!({"name": "roads", "type": "MapServer", "version": 1}),
    );
    put_service(
        &bed.east,
        "east-token-1",
        "legacy",
        &json!({"name": "legacy", "type": "MapServer"}),
    );
    let east_writes = bed.east.service_writes();
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);

    let msg = bed.wait_condition("InSync", "False", "AwaitingAdoption", CONVERGE);
    assert!(
        msg.contains("site east: 1 to create, 1 to replace, 1 to delete")
            && msg.contains(&format!("sitehapair.io/approve-adoption={rev}")),
        "{msg}"
    );
    let st = wait_for("west synced (it only needed creates)", CONVERGE, || {
        let st = bed.status();
        (st["sites"][1]["syncedRevision"] == rev.as_str()).then_some(st)
    });
    let plan = &st["sites"][0]["adoptionPlan"];
    assert_eq!(
        plan,
        &json!({"revision": rev, "create": ["rivers"], "replace": ["roads"], "delete": ["legacy"]}),
        "{st}"
    );
    assert!(st["sites"][1]["adoptionPlan"].is_null(), "{st}");
    assert!(
        bed.events("AwaitingAdoption")
            .iter()
            .any(|n| n.contains("site east: 1 to create")),
        "no AwaitingAdoption Event"
    );
    // The CLI shows the plan, name by name, and how to accept it.
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["status", &bed.name, "-n", &bed.ns.name])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair status");
    let text = stdout(&out);
    for line in [
        "adoption of east waits",
        "  create  rivers",
        "  replace roads",
        "  delete  legacy",
        &format!(
            "accept: kubectl annotate shp {} sitehapair.io/approve-adoption={rev}",
            bed.name
        ),
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    // Several trips later, east still has not been written to.
    let trips = bed.east.requests().len();
    wait_for("a few more trips over east", CONVERGE, || {
        (bed.east.requests().len() > trips + 10).then_some(())
    });
    assert_eq!(
        bed.east.service_writes(),
        east_writes,
        "east was written before acceptance"
    );
    assert_eq!(
        site_services(&bed.east, "east-token-1")["roads"]["version"],
        1
    );

    // An acceptance naming another revision accepts nothing.
    bed.ns.kubectl(&[
        "annotate",
        "shp",
        &bed.name,
        "sitehapair.io/approve-adoption=0000000000000000000000000000000000000000",
    ]);
    let trips = bed.east.requests().len();
    wait_for("a few more trips over east", CONVERGE, || {
        (bed.east.requests().len() > trips + 10).then_some(())
    });
    let still = bed.wait_condition("InSync", "False", "AwaitingAdoption", CONVERGE);
    assert!(still.contains("site east"), "{still}");
    assert_eq!(bed.east.service_writes(), east_writes);

    bed.ns.kubectl(&[
        "annotate",
        "--overwrite",
        "shp",
        &bed.name,
        &format!("sitehapair.io/approve-adoption={rev}"),
    ]);
    bed.wait_in_sync(&rev, CONVERGE);
    let east = site_services(&bed.east, "east-token-1");
    assert!(
        east.get("legacy").is_none()
            && east["roads"]["version"] == 2
            && east.get("rivers").is_some(),
        "{east}"
    );
    let st = bed.status();
    assert!(st["sites"][0]["adoptionPlan"].is_null(), "{st}");
    assert_eq!(condition(&st, "InSync")["status"], "True");
}

#[test]
fn a_new_pair_reports_what_check_would_find_as_its_prerequisites_condition_until_its_first_sync() {
    let mut bed = SyncBed::new("adopt-pre", &[("roads", 2)]);
    // Both sites hold an older roads: neither first sync runs unaccepted.
    for (site, token) in [(&bed.east, "east-token-1"), (&bed.west, "west-token-2")] {
        put_service(
            site,
            token,
            "roads",
            &json!({"name": "roads", "type": "MapServer", "version": 1}),
        );
    }
    set_health(&bed.west, "west-token-2", false);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);

    let msg = bed.wait_condition("Prerequisites", "False", "ProblemsFound", CONVERGE);
    assert!(
        msg.contains("site west: the health check does not answer healthy")
            && msg.contains("fix:")
            && !msg.contains("site east"),
        "{msg}"
    );
    assert!(
        bed.events("PrerequisitesNotMet")
            .iter()
            .any(|n| n.contains("site west: the health check")),
        "no PrerequisitesNotMet Event"
    );
    set_health(&bed.west, "west-token-2", true);
    let msg = bed.wait_condition("Prerequisites", "True", "Met", CONVERGE);
    assert!(msg.contains("2 sites answer"), "{msg}");
    bed.ns.kubectl(&[
        "annotate",
        "shp",
        &bed.name,
        &format!("sitehapair.io/approve-adoption={rev}"),
    ]);
    bed.wait_in_sync(&rev, CONVERGE);
    bed.wait_condition("Prerequisites", "True", "Adopted", CONVERGE);
}
