//! Promotion meets sync: a target behind the source revision is blocked by
//! preflight, and the sync that brings it up to date releases it.

use std::time::Duration;

use serde_json::json;

use crate::support::syncbed::{SyncBed, service};
use crate::support::wait_for;

const CONVERGE: Duration = Duration::from_secs(45);

#[test]
fn a_target_behind_the_source_revision_blocks_until_synced() {
    let mut bed = SyncBed::new("promo-behind", &[("roads", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    bed.wait_in_sync(&rev1, CONVERGE);

    // Report mode: the new revision is fetched but not applied.
    pair["spec"]["sync"] = json!({"mode": "Report"});
    bed.apply(&pair);
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    wait_for("the new revision fetched", CONVERGE, || {
        (bed.status()["source"]["revision"] == rev2.as_str()).then_some(())
    });

    pair["spec"]["activeSite"] = json!("west");
    bed.apply(&pair);
    let msg = bed.wait_condition("PromotionBlocked", "True", "PreflightFailed", CONVERGE);
    assert!(
        msg.contains(&format!(
            "inSync: site west holds revision {}, not the source revision {}",
            &rev1[..12],
            &rev2[..12]
        )),
        "{msg}"
    );
    assert_eq!(bed.status()["activeSite"], "east");

    // Automatic again: the sync brings west up to date and the promotion goes on.
    pair["spec"]["sync"] = json!({"mode": "Automatic"});
    bed.apply(&pair);
    wait_for("west promoted", CONVERGE, || {
        let st = bed.status();
        (st["activeSite"] == "west" && st["promotion"].is_null()).then_some(())
    });
    let st = bed.status();
    assert_eq!(st["sites"][1]["syncedRevision"], rev2.as_str());
    bed.wait_condition("PromotionBlocked", "False", "NotBlocked", CONVERGE);
}
