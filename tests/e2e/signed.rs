//! Signed commits (spec.source.git.verify): with trusted keys in a Secret,
//! an unsigned revision and one signed by an untrusted key change no site
//! and say so in SourceVerified (commit and key) and SourceReady; commits
//! signed with the real `gpg` and with `ssh-keygen` keys sync.

use std::time::Duration;

use serde_json::json;

use crate::support::secrets::put_secret;
use crate::support::signing::{Gpg, ssh_key};
use crate::support::syncbed::{SyncBed, service, site_services};
use crate::support::wait_for;

const EAST: &str = "east-token-1";
const WEST: &str = "west-token-2";
const CONVERGE: Duration = Duration::from_secs(45);

/// Wait until SourceVerified is False naming `commit`; returns its message.
fn refused(bed: &SyncBed, commit: &str) -> String {
    let msg = wait_for(&format!("commit {commit} refused"), CONVERGE, || {
        let c = bed.condition("SourceVerified");
        let m = c["message"].as_str()?.to_string();
        (c["status"] == "False" && c["reason"] == "Unverified" && m.contains(commit)).then_some(m)
    });
    let ready = bed.condition("SourceReady");
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(ready["reason"], "InvalidRevision", "{ready}");
    msg
}

#[test]
fn only_commits_signed_by_a_trusted_key_reach_the_sites() {
    let mut bed = SyncBed::new("signed", &[("roads", 1)]);
    let gpg = Gpg::new(bed.dir.path());
    let trusted = gpg.new_key("author@example.com");
    let stranger = gpg.new_key("stranger@example.com");
    let (ssh_signing, ssh_public) = ssh_key(bed.dir.path(), "deploy");
    put_secret(
        &bed.ns,
        "trusted-keys",
        &[
            ("author.asc", &gpg.export(&trusted)),
            ("deploy.pub", &ssh_public),
        ],
    );
    let unsigned = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["source"]["git"]["verify"] =
        json!({"mode": "HEAD", "secretRef": {"name": "trusted-keys"}});
    bed.apply(&pair);

    // The first revision is unsigned: no site is written.
    let msg = refused(&bed, &unsigned);
    assert!(msg.contains("is not signed"), "{msg}");
    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        let s = site_services(site, token);
        assert_eq!(
            s.as_object().map(|o| o.len()),
            Some(0),
            "{}: {s}",
            site.name
        );
    }

    // Signed with the trusted OpenPGP key: synced.
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let pgp_signed = bed.repo.commit_with("roads v2", &gpg.git_config(&trusted));
    bed.wait_in_sync(&pgp_signed, CONVERGE);
    let c = bed.condition("SourceVerified");
    assert_eq!(c["status"], "True", "{c}");
    let m = c["message"].as_str().unwrap_or_default();
    assert!(m.contains(&pgp_signed) && m.contains(&trusted), "{m}");
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 2);

    // Signed with the trusted SSH key: synced.
    bed.repo.write("services/roads.yaml", &service("roads", 3));
    let ssh_signed = bed.repo.commit_with("roads v3", &ssh_signing);
    bed.wait_in_sync(&ssh_signed, CONVERGE);
    let c = bed.condition("SourceVerified");
    let m = c["message"].as_str().unwrap_or_default();
    assert!(
        c["status"] == "True" && m.contains("SSH key SHA256:"),
        "{c}"
    );

    // Signed by a key the Secret does not hold: refused, naming the key.
    bed.repo.write("services/roads.yaml", &service("roads", 4));
    let wrong = bed.repo.commit_with("roads v4", &gpg.git_config(&stranger));
    let msg = refused(&bed, &wrong);
    assert!(
        msg.contains(&stranger) && msg.contains("not a trusted key"),
        "{msg}"
    );
    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        assert_eq!(
            site_services(site, token)["roads"]["version"],
            3,
            "{}",
            site.name
        );
    }
    assert_eq!(bed.status()["source"]["revision"], ssh_signed.as_str());
}
