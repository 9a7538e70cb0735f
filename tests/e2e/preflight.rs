//! Settling time and whole-pair preflight (issue 11, item 5): a planned
//! promotion waits until the target's last change is older than
//! spec.promotion.settlingTime, saying until when; and what about the rest
//! of the pair an administrator should know (here: a rejected revision) is
//! named by the dry run and in a warning Event, without blocking.

use std::process::Command;
use std::time::Duration;

use crate::support::syncbed::SyncBed;
use crate::support::{condition, testbed, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

/// `sitehapair promote gis --to west --dry-run`: what it printed, and its exit code.
fn dry_run_to_west(bed: &SyncBed) -> (String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args([
            "promote",
            "gis",
            "--to",
            "west",
            "--dry-run",
            "-n",
            &bed.ns.name,
        ])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("sitehapair promote --dry-run");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn a_planned_promotion_waits_for_settling_and_warns_of_a_rejected_revision() {
    let mut bed = SyncBed::new("preflight", &[("roads", 1)]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["promotion"] = serde_json::json!({"settlingTime": "1h"});
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    // A broken commit: the sites keep the last good revision.
    bed.repo.write("services/broken.yaml", "name: [unclosed\n");
    bed.repo.commit("a broken service file");
    bed.wait_condition("SourceReady", "False", "InvalidRevision", CONVERGE);

    let (text, code) = dry_run_to_west(&bed);
    assert!(text.contains("warning: source (InvalidRevision)"), "{text}");
    assert!(text.contains("settled: site west"), "{text}");
    assert_eq!(code, Some(1), "{text}");

    bed.set_active_site("west");
    let msg = wait_for("the promotion held for settling", CONVERGE, || {
        let c = condition(&bed.status(), "PromotionBlocked");
        (c["status"] == "True").then(|| c["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(
        msg.contains("settled: site west changed at") && msg.contains("settlingTime"),
        "{msg}"
    );
    assert_eq!(bed.status()["activeSite"], "east");
    let warned = bed.events("PreflightWarning");
    assert!(
        warned.iter().any(|n| n.contains("InvalidRevision")),
        "{warned:?}"
    );

    // Settled (the wait shortened): the promotion goes on.
    bed.ns.kubectl(&[
        "patch",
        "shp",
        "gis",
        "--type=merge",
        "-p",
        r#"{"spec":{"promotion":{"settlingTime":"0s"}}}"#,
    ]);
    wait_for("west active", CONVERGE, || {
        let st = bed.status();
        (st["activeSite"] == "west" && st["promotion"].is_null()).then_some(())
    });
}

#[test]
fn a_pending_prune_approval_is_named_by_the_dry_run_and_does_not_block() {
    let mut bed = SyncBed::new("preflight-prune", &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    bed.start_operator(&[]);
    // With requireInSync (the default) the held prune itself blocks the
    // promotion: the sites are behind the source. Off, the pending prune
    // is only a warning.
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["promotion"] = serde_json::json!({"requireInSync": false});
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    // Three of four services deleted: over maxPruneFraction (50%), so the
    // prune waits for approval.
    for n in ["a", "b", "c"] {
        bed.repo.remove(&format!("services/{n}.yaml"));
    }
    bed.repo.commit("delete three services");
    bed.wait_condition("InSync", "False", "PruneBlocked", CONVERGE);

    let (text, code) = dry_run_to_west(&bed);
    assert!(text.contains("warning: prune approval pending"), "{text}");
    assert_eq!(code, Some(0), "a warning alone does not block: {text}");

    // The promotion itself goes on, with the warning as an Event.
    bed.set_active_site("west");
    wait_for("west active", CONVERGE, || {
        let st = bed.status();
        (st["activeSite"] == "west" && st["promotion"].is_null()).then_some(())
    });
    let warned = bed.events("PreflightWarning");
    assert!(
        warned.iter().any(|n| n.contains("prune approval pending")),
        "{warned:?}"
    );
}
