//! Adding a site safely (issue 11, item 3): a site added to a running pair
//! is Joining until its first full sync and health check pass. While
//! joining it is no promotion target, and the services it already holds
//! that are not in git are named and kept until the prune is approved.

use std::time::Duration;

use serde_json::json;

use crate::support::secrets::create_secret;
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{SyncBed, put_service, site_services};
use crate::support::{condition, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

#[test]
fn a_joining_site_keeps_its_own_services_until_approved_and_is_no_target_until_joined() {
    let mut bed = SyncBed::new("joining", &[("roads", 1)]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    // A third site that already holds a service of its own.
    let north = ReferenceSite::start(bed.dir.path(), "north", "north-token-3");
    create_secret(&bed.ns, "north-admin", &[("token", "north-token-3")]);
    put_service(
        &north,
        "north-token-3",
        "legacy",
        &json!({"name": "legacy", "type": "MapServer"}),
    );
    pair["spec"]["sites"]
        .as_array_mut()
        .expect("sites")
        .push(json!({
            "name": "north", "adminUrl": north.url,
            "credentialsSecretRef": {"name": "north-admin"}, "trafficAddresses": ["192.0.2.30"],
        }));
    bed.apply(&pair);
    let st = wait_for("north joining, its prune held", CONVERGE, || {
        let st = bed.status();
        let row = st["sites"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "north")?
            .clone();
        (row["joining"] == true
            && row["mode"] == "Passive"
            && condition(&st, "InSync")["reason"] == "PruneBlocked")
            .then_some(st)
    });
    let msg = condition(&st, "InSync")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("north is joining") && msg.contains("legacy"),
        "{msg}"
    );
    assert!(
        site_services(&north, "north-token-3")
            .get("legacy")
            .is_some(),
        "legacy was pruned"
    );

    // Not a promotion target while joining.
    bed.set_active_site("north");
    let blocked = wait_for("the promotion to north blocked", CONVERGE, || {
        let c = condition(&bed.status(), "PromotionBlocked");
        (c["status"] == "True").then(|| c["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(
        blocked.contains("joined: site north is joining"),
        "{blocked}"
    );
    assert_eq!(bed.status()["activeSite"], "east");

    // Approved: north takes the revision, joins, and the promotion goes on.
    bed.ns.kubectl(&[
        "annotate",
        "shp",
        "gis",
        &format!("sitehapair.io/approve-prune={rev}"),
    ]);
    wait_for("north active after joining", CONVERGE, || {
        let st = bed.status();
        (st["activeSite"] == "north" && st["promotion"].is_null()).then_some(())
    });
    let services = site_services(&north, "north-token-3");
    assert!(
        services.get("legacy").is_none() && services.get("roads").is_some(),
        "{services}"
    );
    let joined = bed.events("SiteJoined");
    assert!(
        joined.iter().any(|n| n.contains("site north joined")),
        "{joined:?}"
    );
    let row = bed.status()["sites"][2].clone();
    assert!(row["joining"].is_null(), "{row}");
}
