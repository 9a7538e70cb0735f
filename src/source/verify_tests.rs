//! Tests of commit signature checks with real signatures: commits made by
//! the git CLI and signed with `ssh-keygen` keys and with `gpg` (in a
//! throwaway GNUPGHOME whose agent is stopped at the end), read back with
//! git2's `extract_signature` as the fetch does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::verify::{CommitSignature, KeyError, TrustedKeys, VerifyError};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository in `dir` with one commit made with these `git -c` options
/// (signed with `-S` when there are any); its commit and signature.
fn commit(dir: &Path, config: &[String]) -> (String, Option<CommitSignature>) {
    let repo = dir.join("repo");
    run(Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(&repo));
    std::fs::write(repo.join("roads.yaml"), "name: roads\n").expect("write");
    run(Command::new("git").current_dir(&repo).args(["add", "-A"]));
    let mut git = Command::new("git");
    git.current_dir(&repo)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    for c in config {
        git.args(["-c", c]);
    }
    git.args(["commit", "-q", "-m", "roads"]);
    if !config.is_empty() {
        git.arg("-S");
    }
    run(&mut git);
    let r = git2::Repository::open(&repo).expect("open");
    let oid = r.head().expect("head").target().expect("oid");
    let sig = r
        .extract_signature(&oid, None)
        .ok()
        .map(|(s, d)| CommitSignature {
            signature: s.to_vec(),
            signed: d.to_vec(),
        });
    (oid.to_string(), sig)
}

fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    (key, public)
}

fn tampered(sig: &CommitSignature) -> CommitSignature {
    let mut t = sig.clone();
    t.signed.extend_from_slice(b"\nan extra line\n");
    t
}

#[test]
fn an_ssh_signed_commit_verifies_with_its_key_and_nothing_else() {
    let d = tempfile::tempdir().expect("tempdir");
    let (key, public) = ssh_key(d.path(), "deploy");
    let (_, other) = ssh_key(d.path(), "other");
    let config = vec![
        "gpg.format=ssh".to_string(),
        format!("user.signingkey={}", key.display()),
    ];
    let (oid, sig) = commit(d.path(), &config);
    let sig = sig.expect("signed");
    let trusted = TrustedKeys::parse("ns/keys", [("a.pub", public.as_str())]).expect("keys");
    let signer = trusted.verify(&oid, Some(&sig)).expect("trusted");
    assert!(signer.starts_with("SSH key SHA256:"), "{signer}");
    assert_eq!(
        trusted.verify(&oid, Some(&tampered(&sig))),
        Err(VerifyError::BadSignature {
            commit: oid.clone(),
            key: signer.clone()
        })
    );
    // The same key as a git allowed_signers line (principal and options first).
    let allowed = format!("deploy@example.com namespaces=\"git\" {public}");
    let listed =
        TrustedKeys::parse("ns/keys", [("allowed_signers", allowed.as_str())]).expect("keys");
    assert_eq!(listed.verify(&oid, Some(&sig)).as_ref(), Ok(&signer));
    let others = TrustedKeys::parse("ns/keys", [("b.pub", other.as_str())]).expect("keys");
    assert_eq!(
        others.verify(&oid, Some(&sig)),
        Err(VerifyError::Untrusted {
            commit: oid.clone(),
            key: signer
        })
    );
    assert_eq!(
        trusted.verify(&oid, None),
        Err(VerifyError::Unsigned { commit: oid })
    );
    let d2 = tempfile::tempdir().expect("tempdir");
    let (unsigned, none) = commit(d2.path(), &[]);
    assert!(none.is_none());
    assert!(matches!(
        trusted.verify(&unsigned, none.as_ref()),
        Err(VerifyError::Unsigned { .. })
    ));
}

/// A throwaway GnuPG home; its agent is stopped when dropped.
struct GnuPg(PathBuf);

impl GnuPg {
    fn gpg(&self, args: &[&str]) -> String {
        run(Command::new("gpg")
            .env("GNUPGHOME", &self.0)
            .args(["--batch", "--quiet"])
            .args(args))
    }

    fn key(&self, email: &str) -> (String, String) {
        let uid = format!("T <{email}>");
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &uid,
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = self.gpg(&["--with-colons", "--list-keys", email]);
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("fingerprint")
            .to_string();
        let armored = self.gpg(&["--armor", "--export", &fpr]);
        (fpr, armored)
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.0)
            .args(["--kill", "all"])
            .status();
    }
}

#[test]
fn an_openpgp_signed_commit_verifies_with_its_key_and_names_a_stranger() {
    let d = tempfile::tempdir().expect("tempdir");
    let home = d.path().join("gnupg");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let wrapper = d.path().join("gpg.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nGNUPGHOME='{}' exec gpg \"$@\"\n",
            home.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let g = GnuPg(home);
    let (fpr, armored) = g.key("author@example.com");
    let (_, stranger) = g.key("stranger@example.com");
    let config = vec![
        format!("gpg.program={}", wrapper.display()),
        format!("user.signingkey={fpr}"),
    ];
    let (oid, sig) = commit(d.path(), &config);
    let sig = sig.expect("signed");
    let trusted = TrustedKeys::parse("ns/keys", [("a.asc", armored.as_str())]).expect("keys");
    assert_eq!(
        trusted.verify(&oid, Some(&sig)),
        Ok(format!("OpenPGP key {fpr}"))
    );
    assert!(matches!(
        trusted.verify(&oid, Some(&tampered(&sig))),
        Err(VerifyError::BadSignature { key, .. }) if key.contains(&fpr)
    ));
    let others = TrustedKeys::parse("ns/keys", [("b.asc", stranger.as_str())]).expect("keys");
    assert_eq!(
        others.verify(&oid, Some(&sig)),
        Err(VerifyError::Untrusted {
            commit: oid,
            key: format!("OpenPGP key {fpr}")
        })
    );
}

#[test]
fn a_secret_without_readable_keys_is_refused_naming_secret_and_key() {
    assert_eq!(
        TrustedKeys::parse("ns/keys", [("notes", "# nothing here\n\n")]).err(),
        Some(KeyError::Empty {
            secret: "ns/keys".into()
        })
    );
    let e = TrustedKeys::parse("ns/keys", [("deploy.pub", "ssh-ed25519 not-base64")]).err();
    assert!(
        matches!(&e, Some(KeyError::Unreadable { key, .. }) if key == "deploy.pub"),
        "{e:?}"
    );
}
