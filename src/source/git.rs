//! Fetching one revision of a git repository with git2, blocking: resolve
//! the ref on the remote first (an ls-remote), fetch only when the commit is
//! not already here (shallow where the transport allows), and check the tree
//! out into a folder per commit. Credentials come in `GitCredentials`, whose
//! Debug never shows them; every error names the repository with any
//! userinfo removed from its URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use git2::build::CheckoutBuilder;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions, Oid, RemoteCallbacks,
    Repository,
};
use thiserror::Error;

use super::known_hosts::KnownHosts;
use super::verify::CommitSignature;

/// Which commit to follow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitReference {
    Branch(String),
    Tag(String),
    Commit(String),
}

impl fmt::Display for GitReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitReference::Branch(b) => write!(f, "branch {b}"),
            GitReference::Tag(t) => write!(f, "tag {t}"),
            GitReference::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// Credentials from the pair's Secret. Debug shows which kinds are present, never values.
#[derive(Clone, Default)]
pub struct GitCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM/OpenSSH private key for ssh.
    pub identity: Option<String>,
    /// known_hosts lines for ssh; required for ssh.
    pub known_hosts: Option<String>,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("identity", &self.identity.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts.is_some())
            .finish()
    }
}

/// Why a fetch failed. The URL in every variant has its userinfo removed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GitError {
    #[error(
        "{url}: the repository refused the credentials (check the Secret named by spec.source.git.secretRef)"
    )]
    Auth { url: String },
    #[error(
        "{url}: the ssh host key of {host} is not in known_hosts of the Secret; refusing to connect"
    )]
    HostKey { url: String, host: String },
    #[error("{url}: ssh needs known_hosts in the Secret named by spec.source.git.secretRef")]
    NoKnownHosts { url: String },
    #[error("{url}: {reference} not found in the repository")]
    RefNotFound { url: String, reference: String },
    #[error("{url}: no answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: {message}")]
    Remote { url: String, message: String },
    #[error("local cache {path}: {message}")]
    Cache { path: String, message: String },
}

/// What a fetch produced: the commit and the folder its tree is checked out in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub revision: String,
    pub dir: PathBuf,
    /// Whether objects were downloaded (false when the remote ref had not moved).
    pub downloaded: bool,
    /// The commit's signature and the bytes it signs (None: unsigned),
    /// for the pairs that verify it (`source::verify`).
    pub signature: Option<std::sync::Arc<CommitSignature>>,
}

/// One fetch to perform.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: String,
    pub reference: GitReference,
    pub credentials: GitCredentials,
    /// Give up after this instant (checked in every transfer callback).
    pub deadline: Instant,
}

pub use crate::api::redact::redact_url;

/// Bound libgit2's connect and per-read server time, process-wide: without
/// it a server that accepts a connection and never answers holds a check
/// (and its cache lock) forever, since only the transfer is bounded by the
/// callbacks. Call once at start-up, before any git work.
pub fn bound_server_time(limit: std::time::Duration) -> Result<(), git2::Error> {
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: libgit2 options are process-wide globals; this runs at
    // start-up, before any thread does git work, as libgit2 requires.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(ms)?;
        git2::opts::set_server_timeout_in_milliseconds(ms)?;
    }
    Ok(())
}

/// Host and port of an ssh URL (`ssh://[user@]host[:port]/path`).
fn ssh_host_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.strip_prefix("ssh://")?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()))
        }
        _ => Some((host_port.trim_matches(['[', ']']).to_string(), None)),
    }
}

/// Resolve, fetch if needed, and check out the revision. Blocking.
pub fn fetch_checkout(repo_dir: &Path, req: &FetchRequest) -> Result<Checkout, GitError> {
    let url = redact_url(&req.url);
    let cache_err = |e: git2::Error| GitError::Cache {
        path: repo_dir.display().to_string(),
        message: e.message().to_string(),
    };
    let repo = if repo_dir.join("HEAD").exists() {
        Repository::open_bare(repo_dir).map_err(cache_err)?
    } else {
        std::fs::create_dir_all(repo_dir).map_err(|e| GitError::Cache {
            path: repo_dir.display().to_string(),
            message: e.to_string(),
        })?;
        let repo = Repository::init_bare(repo_dir).map_err(cache_err)?;
        repo.config()
            .and_then(|mut c| c.set_bool("core.symlinks", true))
            .map_err(cache_err)?;
        repo
    };
    let ssh = req.url.starts_with("ssh://");
    let known = if ssh {
        let text = req
            .credentials
            .known_hosts
            .as_deref()
            .ok_or_else(|| GitError::NoKnownHosts { url: url.clone() })?;
        Some(KnownHosts::parse(text))
    } else {
        None
    };
    let target = resolve_remote(&repo, req, known.as_ref(), &url)?;
    let have = |oid: Oid| repo.find_commit(oid).is_ok();
    let mut downloaded = false;
    let oid = match target {
        Some(oid) if have(oid) => oid,
        _ => {
            download(&repo, req, known.as_ref(), &url)?;
            downloaded = true;
            match target {
                Some(oid) => oid,
                // A pinned commit not advertised by the remote: it must be
                // reachable from what was fetched.
                None => {
                    let GitReference::Commit(c) = &req.reference else {
                        return Err(GitError::RefNotFound {
                            url,
                            reference: req.reference.to_string(),
                        });
                    };
                    Oid::from_str(c).map_err(|_| GitError::RefNotFound {
                        url: url.clone(),
                        reference: req.reference.to_string(),
                    })?
                }
            }
        }
    };
    let commit = repo.find_commit(oid).map_err(|_| GitError::RefNotFound {
        url: url.clone(),
        reference: req.reference.to_string(),
    })?;
    let dir = checkout(&repo, repo_dir, &commit)?;
    // An unsigned commit has no signature to extract (NotFound).
    let signature = repo
        .extract_signature(&oid, None)
        .ok()
        .map(|(sig, signed)| {
            std::sync::Arc::new(CommitSignature {
                signature: sig.to_vec(),
                signed: signed.to_vec(),
            })
        });
    Ok(Checkout {
        revision: oid.to_string(),
        dir,
        downloaded,
        signature,
    })
}

/// The callbacks of one connection: credentials tried once, ssh host keys
/// checked against the Secret's known_hosts, the deadline enforced.
fn callbacks<'a>(
    req: &'a FetchRequest,
    known: Option<&'a KnownHosts>,
    auth_failed: &'a std::cell::Cell<bool>,
    host_refused: &'a std::cell::Cell<Option<String>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0u32;
    cb.credentials(move |_url, user_from_url, allowed| {
        tries += 1;
        if tries > 1 {
            auth_failed.set(true);
            return Err(git2::Error::from_str("credentials refused"));
        }
        let c = &req.credentials;
        if allowed.contains(CredentialType::SSH_KEY)
            && let Some(key) = &c.identity
        {
            let user = user_from_url.or(c.username.as_deref()).unwrap_or("git");
            return Cred::ssh_key_from_memory(user, None, key, None);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let (Some(user), Some(pass)) = (&c.username, &c.password) {
                return Cred::userpass_plaintext(user, pass);
            }
            if let Some(pass) = &c.password {
                return Cred::userpass_plaintext("x-access-token", pass);
            }
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user_from_url.unwrap_or("git"));
        }
        auth_failed.set(true);
        Err(git2::Error::from_str("no usable credentials in the Secret"))
    });
    let port = ssh_host_port(&req.url).and_then(|(_, p)| p);
    cb.certificate_check(move |cert, host| match cert.as_hostkey() {
        Some(hk) => {
            let ok = match (known, hk.hostkey()) {
                (Some(k), Some(raw)) => k.accepts(host, port, raw),
                _ => false,
            };
            if ok {
                Ok(CertificateCheckStatus::CertificateOk)
            } else {
                host_refused.set(Some(host.to_string()));
                Err(git2::Error::from_str("host key not in known_hosts"))
            }
        }
        None => Ok(CertificateCheckStatus::CertificatePassthrough),
    });
    let deadline = req.deadline;
    cb.transfer_progress(move |_| Instant::now() < deadline);
    cb.sideband_progress(move |_| Instant::now() < deadline);
    cb
}

/// Map a git2 failure to what the user should read.
fn remote_error(
    e: &git2::Error,
    url: &str,
    req: &FetchRequest,
    auth_failed: bool,
    host_refused: Option<String>,
) -> GitError {
    if let Some(host) = host_refused {
        return GitError::HostKey {
            url: url.to_string(),
            host,
        };
    }
    if auth_failed
        || e.class() == git2::ErrorClass::Http && e.message().contains("401")
        || e.code() == git2::ErrorCode::Auth
    {
        return GitError::Auth {
            url: url.to_string(),
        };
    }
    if Instant::now() >= req.deadline {
        return GitError::Timeout {
            url: url.to_string(),
            secs: 0,
        };
    }
    // libgit2 may quote the URL it was given; take the userinfo out.
    let message = e.message().replace(&req.url, url);
    GitError::Remote {
        url: url.to_string(),
        message,
    }
}

/// The commit the remote ref points at now (None for a commit pin).
fn resolve_remote(
    repo: &Repository,
    req: &FetchRequest,
    known: Option<&KnownHosts>,
    url: &str,
) -> Result<Option<Oid>, GitError> {
    let wanted = match &req.reference {
        GitReference::Branch(b) => vec![format!("refs/heads/{b}")],
        // An annotated tag is advertised twice; the peeled entry is the commit.
        GitReference::Tag(t) => vec![format!("refs/tags/{t}^{{}}"), format!("refs/tags/{t}")],
        GitReference::Commit(c) => {
            return Ok(Some(Oid::from_str(c).map_err(|_| {
                GitError::RefNotFound {
                    url: url.to_string(),
                    reference: req.reference.to_string(),
                }
            })?));
        }
    };
    let auth_failed = std::cell::Cell::new(false);
    let host_refused = std::cell::Cell::new(None);
    let mut remote = repo
        .remote_anonymous(&req.url)
        .map_err(|e| remote_error(&e, url, req, false, None))?;
    let cb = callbacks(req, known, &auth_failed, &host_refused);
    let conn = remote
        .connect_auth(Direction::Fetch, Some(cb), None)
        .map_err(|e| remote_error(&e, url, req, auth_failed.get(), host_refused.take()))?;
    let heads = conn
        .list()
        .map_err(|e| remote_error(&e, url, req, false, None))?;
    for w in &wanted {
        if let Some(h) = heads.iter().find(|h| h.name() == w) {
            return Ok(Some(h.oid()));
        }
    }
    Err(GitError::RefNotFound {
        url: url.to_string(),
        reference: req.reference.to_string(),
    })
}

/// Download the objects of the ref (depth 1 over the network).
fn download(
    repo: &Repository,
    req: &FetchRequest,
    known: Option<&KnownHosts>,
    url: &str,
) -> Result<(), GitError> {
    let refspecs: Vec<String> = match &req.reference {
        GitReference::Branch(b) => vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
        GitReference::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
        GitReference::Commit(_) => vec!["+refs/heads/*:refs/remotes/origin/*".to_string()],
    };
    let auth_failed = std::cell::Cell::new(false);
    let host_refused = std::cell::Cell::new(None);
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(req, known, &auth_failed, &host_refused));
    opts.download_tags(git2::AutotagOption::None);
    // libgit2's local transport cannot fetch shallow; a pinned commit needs history.
    let shallow =
        !req.url.starts_with("file://") && !matches!(req.reference, GitReference::Commit(_));
    if shallow {
        opts.depth(1);
    }
    let mut remote = repo
        .remote_anonymous(&req.url)
        .map_err(|e| remote_error(&e, url, req, false, None))?;
    remote
        .fetch(&refspecs, Some(&mut opts), None)
        .map_err(|e| remote_error(&e, url, req, auth_failed.get(), host_refused.take()))
}

/// Check the commit's tree out into `<repo_dir>/trees/<oid>` (once), and
/// remove older checkouts.
fn checkout(
    repo: &Repository,
    repo_dir: &Path,
    commit: &git2::Commit<'_>,
) -> Result<PathBuf, GitError> {
    let trees = repo_dir.join("trees");
    let dir = trees.join(commit.id().to_string());
    let io = |e: std::io::Error, p: &Path| GitError::Cache {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    if !dir.exists() {
        let tmp = trees.join(format!(".tmp-{}", commit.id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(e, &tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(e, &tmp))?;
        let mut co = CheckoutBuilder::new();
        co.target_dir(&tmp).force().recreate_missing(true);
        repo.checkout_tree(commit.as_object(), Some(&mut co))
            .map_err(|e| GitError::Cache {
                path: tmp.display().to_string(),
                message: e.message().to_string(),
            })?;
        std::fs::rename(&tmp, &dir).map_err(|e| io(e, &dir))?;
    }
    // Keep this checkout and the one before it (a reader may still use it).
    if let Ok(entries) = std::fs::read_dir(&trees) {
        let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| *p != dir)
            .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
            .collect();
        others.sort();
        others.reverse();
        for (_, old) in others.into_iter().skip(1) {
            let _ = std::fs::remove_dir_all(old);
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_from_urls() {
        assert_eq!(
            redact_url("https://bob:s3cret@git.example.com/a/b.git"),
            "https://git.example.com/a/b.git"
        );
        assert_eq!(
            redact_url("ssh://git@host:2222/r.git"),
            "ssh://host:2222/r.git"
        );
        assert_eq!(redact_url("file:///tmp/r"), "file:///tmp/r");
    }

    #[test]
    fn ssh_host_and_port_are_read() {
        assert_eq!(
            ssh_host_port("ssh://git@127.0.0.1:2222/srv/r.git"),
            Some(("127.0.0.1".into(), Some(2222)))
        );
        assert_eq!(
            ssh_host_port("ssh://example.com/r.git"),
            Some(("example.com".into(), None))
        );
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let c = GitCredentials {
            username: Some("bob".into()),
            password: Some("hunter2".into()),
            identity: Some("-----BEGIN KEY-----".into()),
            known_hosts: None,
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && !s.contains("bob") && !s.contains("BEGIN"));
    }
}
