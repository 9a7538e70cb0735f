//! Secrets cost the API server nothing at rest: an idle pair's reconciles
//! read no Secret (a metadata watch says they did not change), and a
//! changed Secret is read again at once, without waiting for any cache to
//! expire.

use std::time::Duration;

use serde_json::json;

use crate::support::git::GitHttp;
use crate::support::secrets::put_secret;
use crate::support::syncbed::SyncBed;
use crate::support::{site_row, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

#[test]
fn an_idle_pair_reads_no_secret_and_a_changed_one_is_read_at_once() {
    let mut bed = SyncBed::new("secret-reads", &[("roads", 1)]);
    let git = GitHttp::start(bed.dir.path(), "deploy", "good-pass-5");
    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "good-pass-5")],
    );
    bed.start_operator(&[]);
    let mut pair = bed.pair(&git.url("services"));
    pair["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    let op = bed.op.as_ref().expect("operator");
    let metric = |name: &str| op.metric(name).unwrap_or(-1.0);
    // Three Secrets (two site tokens, the git credentials), each read at
    // least once; then five more reconciles read none.
    let reads = metric("sitehapair_secret_reads_total");
    assert!(reads >= 3.0, "secret reads: {reads}");
    wait_reconciles(&bed, 5.0);
    assert_eq!(
        metric("sitehapair_secret_reads_total"),
        reads,
        "an idle pair read Secrets"
    );

    // A rotation done wrong is seen at the next check of the repository.
    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "rotated-wrong")],
    );
    let msg = bed.wait_condition("SourceReady", "False", "FetchFailed", CONVERGE);
    assert!(msg.contains("refused the credentials"), "{msg}");
    assert!(metric("sitehapair_secret_reads_total") > reads);
    // And put right, it is read again at once.
    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "good-pass-5")],
    );
    bed.wait_condition("SourceReady", "True", "Fetched", CONVERGE);
}

/// A rotated site token is used without a restart, both ways: a wrong one
/// is refused by the site, and the right one put back is answered again.
#[test]
fn a_rotated_site_token_is_used_without_a_restart_both_ways() {
    let mut bed = SyncBed::new("site-token", &[("roads", 1)]);
    bed.start_operator(&[]);
    let pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);
    // A few trips at rest on the token as first read.
    wait_reconciles(&bed, 3.0);
    let west_contact = || site_row(&bed.status(), "west")["contact"].clone();
    put_secret(&bed.ns, "west-admin", &[("token", "rotated-wrong")]);
    wait_for("west's wrong token to be refused", CONVERGE, || {
        (west_contact() == "CredentialsRefused").then_some(())
    });
    put_secret(&bed.ns, "west-admin", &[("token", "west-token-2")]);
    wait_for("west to answer again", CONVERGE, || {
        (west_contact() == "Answered").then_some(())
    });
}

/// Wait until the operator has reconciled `more` more times.
fn wait_reconciles(bed: &SyncBed, more: f64) {
    let op = bed.op.as_ref().expect("operator");
    let reconciles = || op.metric("sitehapair_reconciles_total").unwrap_or(-1.0);
    let start = reconciles();
    wait_for(&format!("{more} more reconciles"), CONVERGE, || {
        (reconciles() >= start + more).then_some(())
    });
}
