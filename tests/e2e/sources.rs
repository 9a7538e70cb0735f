//! The source and the sites going away and coming back, the webhook, and
//! one fetch shared by many pairs, counted at a real git HTTP server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::git::{GitDaemon, GitHttp};
use crate::support::operator::Operator;
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{SyncBed, service, site_services};
use crate::support::webhook::{
    KEY, operator_flags, post_hook, push_body, sign, start_with_webhook,
};
use crate::support::{stderr, wait_for};

const EAST: &str = "east-token-1";
const WEST: &str = "west-token-2";
const CONVERGE: Duration = Duration::from_secs(45);

#[test]
fn an_unreachable_repository_or_site_keeps_the_last_state_and_recovers() {
    let mut bed = SyncBed::new("src-down", &[("roads", 1)]);
    let mut git = GitHttp::start(bed.dir.path(), "", "");
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&git.url("services")));
    bed.wait_in_sync(&rev1, CONVERGE);

    // The repository goes away while a new commit waits in it.
    git.stop();
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let msg = bed.wait_condition("SourceReady", "False", "FetchFailed", CONVERGE);
    assert!(msg.contains(&git.url("services")), "{msg}");
    assert!(
        msg.contains(&format!("the sites keep revision {}", &rev1[..12])),
        "{msg}"
    );
    assert_eq!(bed.status()["source"]["revision"], rev1.as_str());
    assert_eq!(bed.status()["phase"], "Degraded");
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 1);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 1);
    git.restart();
    bed.wait_in_sync(&rev2, CONVERGE);
    bed.wait_condition("SourceReady", "True", "Fetched", CONVERGE);

    // The passive site goes away: the active is not touched by the next revision.
    let west_addr = bed.west.addr().to_string();
    bed.west.kill();
    bed.repo.write("services/roads.yaml", &service("roads", 3));
    let rev3 = bed.repo.commit("roads v3");
    let msg = bed.wait_condition("Degraded", "True", "SiteUnreachable", CONVERGE);
    assert!(msg.contains("site west"), "{msg}");
    let in_sync = bed.wait_condition("InSync", "False", "SiteUnreachable", CONVERGE);
    assert!(in_sync.contains("site west"), "{in_sync}");
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 2);
    assert_eq!(bed.status()["sites"][1]["health"], "Unreachable");
    bed.west = ReferenceSite::start_on(bed.dir.path(), "west", WEST, &west_addr);
    bed.wait_in_sync(&rev3, CONVERGE);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 3);
}

#[test]
fn a_webhook_converges_at_once_in_memory_and_through_a_replica_that_does_not_lead() {
    let mut bed = SyncBed::new("src-hook", &[("roads", 1)]);
    let git = start_with_webhook(&mut bed);
    let ns = bed.ns.name.clone();
    let mut pair = bed.pair(&git.url("services"));
    // Far longer than the test: only the webhook can bring the next revision.
    pair["spec"]["source"]["git"]["interval"] = json!("10m");
    bed.apply(&pair);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev1, CONVERGE);
    let port = bed.op.as_ref().expect("operator").port;

    let push = push_body(&git.url("services"));
    assert_eq!(post_hook(port, &push, "sha256=00ff"), 401);
    assert_eq!(post_hook(port, &push, &sign("wrong", push.as_bytes())), 401);

    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let fetches = git.fetches();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(post_hook(port, &push, &sign(KEY, push.as_bytes())), 202);
    }
    bed.wait_in_sync(&rev2, Duration::from_secs(30));
    println!("webhook to both sites in sync: {:?}", started.elapsed());
    assert_eq!(
        git.fetches() - fetches,
        1,
        "a burst of five pushes made more than one fetch"
    );
    // The leader took the push in memory: no API write to the pair.
    let annotation = "sitehapair.io/reconcile-requested-at";
    let pair_now = bed.ns.get_json("shp/gis").expect("pair");
    assert!(
        pair_now["metadata"]["annotations"][annotation].is_null(),
        "the webhook wrote to the pair: {}",
        pair_now["metadata"]
    );

    // A replica that does not lead takes the next push and asks the leader
    // through the API (the annotation); the leader syncs.
    let cache = bed.dir.path().join("standby-cache");
    let mut flags = vec!["--cache-dir", cache.to_str().expect("utf-8")];
    flags.extend(operator_flags(&ns));
    let standby = Operator::start(&ns, "standby", &flags);
    bed.repo.write("services/roads.yaml", &service("roads", 3));
    let rev3 = bed.repo.commit("roads v3");
    wait_for("the standby's webhook", Duration::from_secs(30), || {
        (post_hook(standby.port, &push, &sign(KEY, push.as_bytes())) == 202).then_some(())
    });
    bed.wait_in_sync(&rev3, Duration::from_secs(30));
    assert_eq!(standby.metric("sitehapair_leader"), Some(0.0));
    let st = bed.status();
    assert!(st["lastHandledReconcileAt"].is_string(), "{st}");
    let pair_now = bed.ns.get_json("shp/gis").expect("pair");
    assert!(pair_now["metadata"]["annotations"][annotation].is_string());
}

#[test]
fn a_hundred_pairs_on_one_repository_share_one_fetch() {
    let mut bed = SyncBed::new("src-fanout", &[("roads", 1)]);
    let git = GitHttp::start(bed.dir.path(), "", "");
    bed.start_operator(&[]);
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let mut p = bed.pair(&git.url("services"));
            p["metadata"]["name"] = json!(format!("gis-{i:03}"));
            p["spec"]["healthCheck"] = json!({"interval": "10s", "timeout": "2s"});
            // A site is managed by one pair: each pair names the two
            // reference sites by an admin URL of its own (the query is
            // passed along and ignored by the site).
            for site in [0, 1] {
                let url = p["spec"]["sites"][site]["adminUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                p["spec"]["sites"][site]["adminUrl"] = json!(format!("{url}/?pair={i}"));
            }
            p
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let out = bed.ns.apply(&list.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    let all_at = |rev: &str| -> Option<()> {
        let list = bed.ns.get_json("sitehapairs")?;
        let items = list["items"].as_array()?;
        let done = items
            .iter()
            .filter(|p| {
                p["status"]["sites"]
                    .as_array()
                    .is_some_and(|s| s.len() == 2 && s.iter().all(|r| r["syncedRevision"] == rev))
            })
            .count();
        (done == 100).then_some(())
    };
    wait_for(
        "100 pairs at the first revision",
        Duration::from_secs(180),
        || all_at(&rev1),
    );

    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let (fetches, checks) = (git.fetches(), git.ref_checks());
    let started = Instant::now();
    wait_for(
        "100 pairs at the new revision",
        Duration::from_secs(180),
        || all_at(&rev2),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let (fetches, checks) = (git.fetches() - fetches, git.ref_checks() - checks);
    println!(
        "100 pairs: {fetches} pack download(s), {checks} ref advertisement(s) in {elapsed:.1} s (interval 5 s)"
    );
    assert_eq!(fetches, 1, "one download for all 100 pairs");
    // One ls-remote per interval, and one more for the fetch itself.
    let intervals = (elapsed / 5.0).ceil() as usize + 1;
    assert!(
        checks <= intervals + 1,
        "{checks} remote checks in {elapsed:.1} s: more than one per interval"
    );
    // Free the namespace quickly: the pairs go with the operator still running.
    bed.ns
        .kubectl(&["delete", "shp", "--all", "--wait=true", "--timeout=120s"]);
}

#[test]
fn the_git_protocol_and_an_annotated_tag_are_followed() {
    let mut bed = SyncBed::new("src-tag", &[("roads", 1)]);
    let daemon = GitDaemon::start(bed.dir.path());
    bed.repo.git(&["tag", "-a", "v1", "-m", "release 1"]);
    bed.repo.git(&["push", "--quiet", "origin", "v1"]);
    let tagged = bed.repo.git(&["rev-parse", "v1^{commit}"]);
    // A later commit on main is not what the tag names.
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    bed.repo.commit("roads v2, untagged");
    bed.start_operator(&[]);
    let mut pair = bed.pair(&daemon.url("services"));
    pair["spec"]["source"]["git"]["ref"] = json!({"tag": "v1"});
    bed.apply(&pair);
    bed.wait_in_sync(&tagged, CONVERGE);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 1);
}
