//! Teams who share one operator: team A's private repository (its own git
//! server and Secret) never reaches team B's sites, whatever B writes in
//! spec.source: a file:// URL into the operator's cache, the same URL with
//! no credentials or with B's, or a path out of the repository. Each
//! refusal is a condition that says what to fix, and B's sites see no write.
//! One operator serves both namespaces (cluster-wide, scoped by a pair
//! label selector), without --allow-file-sources, as the chart runs it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::git::GitHttp;
use crate::support::operator::Operator;
use crate::support::secrets::put_secret;
use crate::support::syncbed::{SyncBed, site_services};
use crate::support::{stderr, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

/// The pair of `bed`, labelled for the test's operator.
fn labelled(bed: &SyncBed, url: &str, label: &str) -> Value {
    let mut pair = bed.pair(url);
    pair["metadata"]["labels"] = json!({"tenant-test": label});
    pair
}

#[test]
fn a_tenant_cannot_get_another_tenants_private_services_by_any_source() {
    let a = SyncBed::new("tenant-a", &[("secret-roads", 1)]);
    let mut b = SyncBed::new("tenant-b", &[("own-parcels", 1)]);
    let git_a = GitHttp::start(a.dir.path(), "team-a", "a-pass-71");
    let git_b = GitHttp::start(b.dir.path(), "team-b", "b-pass-93");
    put_secret(
        &a.ns,
        "git-creds",
        &[("username", "team-a"), ("password", "a-pass-71")],
    );
    put_secret(
        &b.ns,
        "git-creds",
        &[("username", "team-b"), ("password", "b-pass-93")],
    );

    // One operator for both namespaces, as installed: file:// refused.
    let label = a.ns.name.clone();
    let cache = a.cache_dir();
    let op = Operator::start_cluster_wide(
        &a.ns.name,
        "shared",
        &[
            "--pair-selector",
            &format!("tenant-test={label}"),
            "--cache-dir",
            cache.to_str().expect("utf-8 path"),
        ],
        &[("SITEHAPAIR_ALLOW_FILE_SOURCES", "false")],
    );

    let mut pair_a = labelled(&a, &git_a.url("services"), &label);
    pair_a["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    a.apply(&pair_a);
    let rev_a = a.repo.git(&["rev-parse", "HEAD"]);
    a.wait_in_sync(&rev_a, CONVERGE);
    assert_eq!(
        site_services(&a.west, "west-token-2")["secret-roads"]["version"],
        1
    );

    // B names A's cached checkout on the operator's disk.
    let checkout = std::fs::read_dir(&cache)
        .expect("the operator's cache folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("A's checkout in the cache");
    let mut pair_b = labelled(&b, &format!("file://{}", checkout.display()), &label);
    b.apply(&pair_b);
    let msg = b.wait_condition("SourceReady", "False", "SourceRefused", CONVERGE);
    assert!(
        msg.contains("file:// repositories are refused") && msg.contains("https or ssh"),
        "{msg}"
    );
    assert!(
        b.events("SourceRefused")
            .iter()
            .any(|n| n.contains("file://"))
    );

    // The same URL as A, with no credentials: the server refuses B.
    pair_b["spec"]["source"]["git"]["url"] = json!(git_a.url("services"));
    b.apply(&pair_b);
    let msg = wait_for("A's repository refused to B", CONVERGE, || {
        let c = b.condition("SourceReady");
        (c["reason"] == "FetchFailed" && c["message"].as_str()?.contains("refused the credentials"))
            .then(|| c["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(msg.contains(&git_a.url("services")), "{msg}");

    // The same URL with B's own credentials: refused too (the cache never
    // hands A's checkout to another Secret).
    pair_b["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    b.apply(&pair_b);
    wait_for("B's Secret used against A's repository", CONVERGE, || {
        let refused = git_a
            .requests()
            .iter()
            .any(|r| r["user"] == "team-b" && r["status"] == 401);
        let c = b.condition("SourceReady");
        (refused && c["reason"] == "FetchFailed").then_some(())
    });

    // A path out of the repository, or from the root of the disk: the API
    // server refuses the spec and says what to fix.
    for (path, says) in [
        ("../../services", "path must stay inside the repository"),
        ("/tmp", "no leading '/'"),
    ] {
        let mut bad = labelled(&b, &git_b.url("services"), &label);
        bad["spec"]["source"]["git"]["path"] = json!(path);
        let out = b.ns.apply(&bad.to_string());
        assert!(!out.status.success(), "path {path} was accepted");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }

    // Nothing of A's reached B's sites; B's sites were never written.
    for site in [&b.east, &b.west] {
        assert_eq!(site.service_writes(), 0, "site {} was written", site.name);
    }
    let token = |s: &str| {
        if s == "east" {
            "east-token-1"
        } else {
            "west-token-2"
        }
    };
    for site in [&b.east, &b.west] {
        let services = site_services(site, token(&site.name));
        assert!(services.get("secret-roads").is_none(), "{services}");
    }

    // B's own repository with B's Secret works under the same operator.
    pair_b["spec"]["source"]["git"]["url"] = json!(git_b.url("services"));
    b.apply(&pair_b);
    let rev_b = b.repo.git(&["rev-parse", "HEAD"]);
    b.wait_in_sync(&rev_b, CONVERGE);
    assert_eq!(
        site_services(&b.west, "west-token-2")["own-parcels"]["version"],
        1
    );
    assert!(
        site_services(&b.west, "west-token-2")
            .get("secret-roads")
            .is_none()
    );
    b.op = Some(op);
}
