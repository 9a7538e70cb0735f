//! Real signing keys for the signed-commit tests: `gpg` in a throwaway
//! GNUPGHOME (its agent stopped when dropped) and `ssh-keygen` keys, with
//! the git configuration that signs a commit with each.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway GnuPG home and a `gpg` wrapper git can use as gpg.program.
pub struct Gpg {
    home: PathBuf,
    program: PathBuf,
}

impl Gpg {
    pub fn new(dir: &Path) -> Self {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).expect("mkdir gnupg");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let program = dir.join("gpg-wrapper");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nGNUPGHOME='{}' exec gpg \"$@\"\n",
                home.display()
            ),
        )
        .expect("write gpg wrapper");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self { home, program }
    }

    fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .expect("run gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new ed25519 signing key without passphrase; its fingerprint.
    pub fn new_key(&self, email: &str) -> String {
        let uid = format!("Test <{email}>");
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
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("fingerprint")
            .to_string()
    }

    /// The armored public key block of `fingerprint`.
    pub fn export(&self, fingerprint: &str) -> String {
        self.gpg(&["--armor", "--export", fingerprint])
    }

    /// `git -c` options that sign a commit with `fingerprint`.
    pub fn git_config(&self, fingerprint: &str) -> Vec<String> {
        vec![
            format!("gpg.program={}", self.program.display()),
            format!("user.signingkey={fingerprint}"),
        ]
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // Stop the agent gpg started for this home.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "all"])
            .status();
    }
}

/// A new ed25519 SSH key in `dir`: the `git -c` options that sign with it,
/// and its public key line.
pub fn ssh_key(dir: &Path, name: &str) -> (Vec<String>, String) {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let config = vec![
        "gpg.format=ssh".to_string(),
        format!("user.signingkey={}", key.display()),
    ];
    (config, public)
}
