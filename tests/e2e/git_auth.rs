//! Credentials for git: https with user and password, ssh with a key and a
//! required known_hosts. Wrong ones are refused with a clear condition, and
//! no credential shows up in the operator's logs, the Events or the status.

use std::time::Duration;

use serde_json::json;

use crate::support::git::GitHttp;
use crate::support::secrets::put_secret;
use crate::support::sshd::Sshd;
use crate::support::stdout;
use crate::support::syncbed::SyncBed;

const CONVERGE: Duration = Duration::from_secs(45);

/// Everything a user could read: operator logs, Events, the pair's status.
fn visible_text(bed: &SyncBed) -> String {
    let events = stdout(&bed.ns.kubectl_raw(&["get", "events", "-o", "json"]));
    let logs = bed.op.as_ref().map(|o| o.logs()).unwrap_or_default();
    format!("{logs}\n{events}\n{}", bed.status())
}

#[test]
fn https_with_wrong_credentials_is_refused_and_no_credential_leaks() {
    let mut bed = SyncBed::new("auth-https", &[("roads", 1)]);
    let git = GitHttp::start(bed.dir.path(), "deploy", "correct-horse-42");
    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "wrong-pass-77")],
    );
    bed.start_operator(&[]);
    let mut pair = bed.pair(&git.url("services"));
    pair["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    bed.apply(&pair);
    let msg = bed.wait_condition("SourceReady", "False", "FetchFailed", CONVERGE);
    assert!(msg.contains("refused the credentials"), "{msg}");
    assert!(bed.status()["sites"][0]["syncedRevision"].is_null());

    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "correct-horse-42")],
    );
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);

    let text = visible_text(&bed);
    for secret in ["correct-horse-42", "wrong-pass-77"] {
        assert!(!text.contains(secret), "credential {secret} is visible");
    }
}

#[test]
fn ssh_needs_the_right_host_key() {
    let mut bed = SyncBed::new("auth-ssh", &[("roads", 1)]);
    let sshd = Sshd::start(bed.dir.path());
    put_secret(
        &bed.ns,
        "git-ssh",
        &[
            ("identity", &sshd.client_key),
            ("known_hosts", &sshd.wrong_known_hosts),
        ],
    );
    bed.start_operator(&[]);
    let mut pair = bed.pair(&sshd.url(&bed.repo.bare));
    pair["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-ssh"});
    bed.apply(&pair);
    let msg = bed.wait_condition("SourceReady", "False", "FetchFailed", CONVERGE);
    assert!(
        msg.contains("host key of 127.0.0.1 is not in known_hosts"),
        "{msg}"
    );
    assert!(bed.status()["sites"][0]["syncedRevision"].is_null());

    put_secret(
        &bed.ns,
        "git-ssh",
        &[
            ("identity", &sshd.client_key),
            ("known_hosts", &sshd.known_hosts),
        ],
    );
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, CONVERGE);
    let text = visible_text(&bed);
    let key_body: String = sshd
        .client_key
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        key_body.len() > 20 && !text.contains(&key_body),
        "the private key is visible"
    );
}
