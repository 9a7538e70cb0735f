//! Signed commits: the trusted keys of a pair (from the Secret named by
//! `spec.source.git.verify.secretRef`) and the check of a commit's
//! signature against them. OpenPGP signatures (`gpg`) are checked with rPGP
//! (`pgp`), SSH signatures (`ssh-keygen -Y sign`, namespace `git`) with
//! RustCrypto's `ssh-key`. git2 gives the signature and the signed bytes
//! (`Repository::extract_signature`, in `source::git`); this module is pure.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use ssh_key::{HashAlg, PublicKey, SshSig};

/// The namespace git signs commits in with SSH keys.
const SSH_NAMESPACE: &str = "git";

/// A commit's signature and the bytes it signs, as git2 gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSignature {
    pub signature: Vec<u8>,
    pub signed: Vec<u8>,
}

/// What verification said of a revision, for one pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verified {
    /// The pair does not ask (no `spec.source.git.verify`).
    #[default]
    NotAsked,
    /// Signed by a trusted key: its fingerprint.
    SignedBy(String),
    /// Not signed, or not by a trusted key: why, naming commit and key.
    Refused(String),
}

/// The keys a pair trusts.
#[derive(Default)]
pub struct TrustedKeys {
    pgp: Vec<SignedPublicKey>,
    ssh: Vec<PublicKey>,
}

/// Why the trusted keys could not be read (names the Secret's key, never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "Secret {secret}: key {key} holds neither an OpenPGP public key block nor SSH public keys: {message}"
    )]
    Unreadable {
        secret: String,
        key: String,
        message: String,
    },
    #[error("Secret {secret} holds no public keys to verify commits with")]
    Empty { secret: String },
}

/// Why a commit is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("commit {commit} is not signed")]
    Unsigned { commit: String },
    #[error("commit {commit} is signed by {key}, which is not a trusted key")]
    Untrusted { commit: String, key: String },
    #[error("commit {commit}: its signature by {key} does not match the commit")]
    BadSignature { commit: String, key: String },
    #[error("commit {commit}: the signature cannot be read: {message}")]
    Malformed { commit: String, message: String },
}

impl TrustedKeys {
    /// Read every value of the Secret: an armored OpenPGP public key block
    /// (one or more keys), or SSH public keys one a line (a `.pub` file's
    /// line, or an authorized_keys or allowed_signers line whose leading
    /// fields are skipped; blank lines and `#` comments too).
    pub fn parse<'a>(
        secret: &str,
        values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, KeyError> {
        let mut keys = TrustedKeys::default();
        for (key, text) in values {
            let unreadable = |message: String| KeyError::Unreadable {
                secret: secret.to_string(),
                key: key.to_string(),
                message,
            };
            if text
                .trim_start()
                .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
            {
                let (many, _) = SignedPublicKey::from_string_many(text)
                    .map_err(|e| unreadable(e.to_string()))?;
                for k in many {
                    keys.pgp.push(k.map_err(|e| unreadable(e.to_string()))?);
                }
                continue;
            }
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                keys.ssh
                    .push(ssh_public_key(line).map_err(|e| unreadable(e.to_string()))?);
            }
        }
        if keys.pgp.is_empty() && keys.ssh.is_empty() {
            return Err(KeyError::Empty {
                secret: secret.to_string(),
            });
        }
        Ok(keys)
    }

    /// Check `commit`'s signature; the signer's fingerprint when trusted.
    pub fn verify(
        &self,
        commit: &str,
        signature: Option<&CommitSignature>,
    ) -> Result<String, VerifyError> {
        let Some(sig) = signature else {
            return Err(VerifyError::Unsigned {
                commit: commit.to_string(),
            });
        };
        let malformed = |message: String| VerifyError::Malformed {
            commit: commit.to_string(),
            message,
        };
        let text = std::str::from_utf8(&sig.signature).map_err(|e| malformed(e.to_string()))?;
        if text
            .trim_start()
            .starts_with("-----BEGIN SSH SIGNATURE-----")
        {
            let s = SshSig::from_pem(text).map_err(|e| malformed(e.to_string()))?;
            return self.verify_ssh(commit, &s, &sig.signed);
        }
        let (s, _) = DetachedSignature::from_string(text).map_err(|e| malformed(e.to_string()))?;
        self.verify_pgp(commit, &s, &sig.signed)
    }

    fn verify_ssh(&self, commit: &str, sig: &SshSig, signed: &[u8]) -> Result<String, VerifyError> {
        let signer = PublicKey::from(sig.public_key().clone());
        let fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
        let Some(trusted) = self.ssh.iter().find(|k| k.key_data() == signer.key_data()) else {
            return Err(VerifyError::Untrusted {
                commit: commit.to_string(),
                key: format!("SSH key {fingerprint}"),
            });
        };
        trusted
            .verify(SSH_NAMESPACE, signed, sig)
            .map(|()| format!("SSH key {fingerprint}"))
            .map_err(|_| VerifyError::BadSignature {
                commit: commit.to_string(),
                key: format!("SSH key {fingerprint}"),
            })
    }

    fn verify_pgp(
        &self,
        commit: &str,
        sig: &DetachedSignature,
        signed: &[u8],
    ) -> Result<String, VerifyError> {
        for key in &self.pgp {
            if sig.verify(&key.primary_key, signed).is_ok() {
                return Ok(format!(
                    "OpenPGP key {}",
                    hex::encode_upper(key.fingerprint().as_bytes())
                ));
            }
            for sub in &key.public_subkeys {
                if sig.verify(&sub.key, signed).is_ok() {
                    return Ok(format!(
                        "OpenPGP key {}",
                        hex::encode_upper(sub.key.fingerprint().as_bytes())
                    ));
                }
            }
        }
        let issuer = issuer_of(sig);
        let known = issuer.as_ref().is_some_and(|issuer| {
            self.pgp.iter().any(|k| {
                std::iter::once(hex::encode_upper(k.fingerprint().as_bytes()))
                    .chain(
                        k.public_subkeys
                            .iter()
                            .map(|s| hex::encode_upper(s.key.fingerprint().as_bytes())),
                    )
                    .any(|fp| fp.ends_with(issuer.as_str()))
            })
        });
        let key = format!(
            "OpenPGP key {}",
            issuer
                .as_deref()
                .unwrap_or("(the signature names no issuer)")
        );
        let commit = commit.to_string();
        Err(if known {
            VerifyError::BadSignature { commit, key }
        } else {
            VerifyError::Untrusted { commit, key }
        })
    }
}

/// One SSH public key line: `<type> <base64> [comment]`, or with
/// leading fields before the key type, as in authorized_keys (options) and
/// git's allowed_signers (principals, namespaces); those fields are not
/// used, only the key.
fn ssh_public_key(line: &str) -> Result<PublicKey, ssh_key::Error> {
    let first = PublicKey::from_openssh(line);
    if first.is_ok() {
        return first;
    }
    let start = line
        .match_indices(char::is_whitespace)
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let rest = &line[i..];
            ["ssh-", "ecdsa-sha2-", "sk-"]
                .iter()
                .any(|p| rest.starts_with(p))
        });
    match start {
        Some(i) => PublicKey::from_openssh(&line[i..]),
        None => first,
    }
}

/// The signer a signature names: its issuer fingerprint, else its key id
/// (upper-case hex).
fn issuer_of(sig: &DetachedSignature) -> Option<String> {
    let s = &sig.signature;
    if let Some(fp) = s.issuer_fingerprint().first() {
        return Some(hex::encode_upper(fp.as_bytes()));
    }
    s.issuer_key_id()
        .first()
        .map(|id| hex::encode_upper(id.as_ref()))
}
