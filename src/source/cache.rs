//! The shared source cache: one git checkout per (url, ref, credentials),
//! shared by every pair that names it, so N pairs on one repository cost
//! one remote check per interval. Blocking git work runs on the blocking
//! pool under a timeout; the parsed services of a revision are kept per
//! folder. A refresh request (webhook, annotation) fetches once for all
//! pairs that ask.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::files::{FileError, read_source};
use super::git::{
    Checkout, FetchRequest, GitCredentials, GitError, GitReference, fetch_checkout, redact_url,
};
use super::verify::{CommitSignature, Verified};
use crate::plan::overlay::SourceSet;

/// Which cache entry: repository, ref, and whose credentials fetched it
/// (pairs with different Secrets never share a checkout).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub url: String,
    pub reference: GitReference,
    /// `namespace/secret` of the credentials, or empty.
    pub credentials: String,
}

/// One look at the source, for one pair.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub revision: String,
    /// The services of the pair's folder, or why the revision is rejected.
    pub services: Arc<Result<SourceSet, FileError>>,
    /// When the remote was last checked (successfully).
    pub checked_at: Instant,
    /// The wall-clock time that check started.
    pub checked_wall: SystemTime,
    /// The revision before this one and the services of the same folder
    /// in it, when they were read: a site whose listing is unchanged since
    /// it matched that revision holds exactly those (see `controller::sync`).
    pub previous: Option<(String, Parsed)>,
    /// The commit's signature (None: unsigned).
    pub signature: Option<Arc<CommitSignature>>,
    /// What the pair's verification said (set by the pair's trip).
    pub verified: Verified,
}

/// Why there is no snapshot.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{url}: the fetch did not finish within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: the fetch task failed: {message}")]
    Task { url: String, message: String },
}

type SharedEntry = Arc<tokio::sync::Mutex<Entry>>;

/// The services of one folder at one revision, parsed once and shared.
pub type Parsed = Arc<Result<SourceSet, FileError>>;

/// An entry no pair asked for in this long is forgotten.
const UNUSED_FOR: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Entry {
    /// When the remote was last checked (monotonic, and the wall-clock
    /// time the check started), with the outcome.
    last: Option<(Instant, SystemTime, Result<Checkout, SourceError>)>,
    /// Parsed services of `last`'s revision, per folder.
    parsed: HashMap<String, Parsed>,
    /// The revision `last` held before it moved, with its parsed folders:
    /// one revision back, shared by every pair on this entry.
    previous: Option<(String, HashMap<String, Parsed>)>,
    /// Held by the blocking git work on this entry's folder, which may
    /// outlive a timed-out check: the next check waits for it.
    repo_lock: Arc<Mutex<()>>,
}

/// Counts kept for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    /// Remote checks (ls-remote) made.
    pub checks: u64,
    /// Checks that downloaded objects.
    pub downloads: u64,
}

pub struct SourceCache {
    dir: PathBuf,
    timeout: Duration,
    /// Entries with when they were last asked for.
    entries: Mutex<HashMap<CacheKey, (SharedEntry, Instant)>>,
    counts: Mutex<CacheCounts>,
}

impl SourceCache {
    pub fn new(dir: PathBuf, timeout: Duration) -> Self {
        Self {
            dir,
            timeout,
            entries: Mutex::new(HashMap::new()),
            counts: Mutex::new(CacheCounts::default()),
        }
    }

    pub fn counts(&self) -> CacheCounts {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(&self, key: &CacheKey) -> SharedEntry {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entry, used) = map
            .entry(key.clone())
            .or_insert_with(|| (Arc::default(), Instant::now()));
        *used = Instant::now();
        entry.clone()
    }

    /// Forget entries no pair asked for in `UNUSED_FOR` (a pair deleted or
    /// moved to another source), unless a check holds them. Their checkout
    /// folders stay on disk for a pair that comes back.
    pub fn prune(&self, now: Instant) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (entry, used)| {
                Arc::strong_count(entry) > 1 || now.saturating_duration_since(*used) < UNUSED_FOR
            });
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current revision of `key` and the services under `path`.
    /// The remote is checked when the last check is older than `interval`,
    /// or when a refresh was requested at `refresh_requested` and the last
    /// check started before that: many pairs asking after one push share
    /// one fetch.
    pub async fn snapshot(
        &self,
        key: &CacheKey,
        credentials: GitCredentials,
        path: &str,
        interval: Duration,
        refresh_requested: Option<SystemTime>,
    ) -> Result<Snapshot, SourceError> {
        let entry = self.entry(key);
        let mut e = entry.lock().await;
        let now = Instant::now();
        let cached = e.last.clone().filter(|(at, started, _)| {
            now.saturating_duration_since(*at) < interval
                && refresh_requested.is_none_or(|r| *started >= r)
        });
        let (at, wall, last) = match cached {
            Some((at, wall, last)) => (at, wall, last),
            None => {
                let started = SystemTime::now();
                let outcome = self
                    .check_remote(key, credentials, e.repo_lock.clone())
                    .await;
                let checked = Instant::now();
                {
                    let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                    c.checks += 1;
                    if matches!(&outcome, Ok(co) if co.downloaded) {
                        c.downloads += 1;
                    }
                }
                let keep_parsed = matches!((&e.last, &outcome),
                    (Some((_, _, Ok(old))), Ok(new)) if old.revision == new.revision);
                if !keep_parsed {
                    let parsed = std::mem::take(&mut e.parsed);
                    let old = match &e.last {
                        Some((_, _, Ok(old))) => Some(old.revision.clone()),
                        _ => None,
                    };
                    // A failed check leaves the revision before as it was.
                    if let (Some(old), Ok(_)) = (old, &outcome)
                        && !parsed.is_empty()
                    {
                        e.previous = Some((old, parsed));
                    }
                }
                e.last = Some((checked, started, outcome.clone()));
                (checked, started, outcome)
            }
        };
        let checkout = last?;
        let services = match e.parsed.get(path) {
            Some(s) => s.clone(),
            None => {
                let dir = checkout.dir.clone();
                let p = path.to_string();
                let parsed = tokio::task::spawn_blocking(move || read_source(&dir, &p))
                    .await
                    .unwrap_or_else(|err| {
                        Err(FileError::Io {
                            file: path.to_string(),
                            message: err.to_string(),
                        })
                    });
                let parsed = Arc::new(parsed);
                e.parsed.insert(path.to_string(), parsed.clone());
                parsed
            }
        };
        let previous = e
            .previous
            .as_ref()
            .filter(|(revision, _)| *revision != checkout.revision)
            .and_then(|(revision, folders)| Some((revision.clone(), folders.get(path)?.clone())));
        Ok(Snapshot {
            signature: checkout.signature,
            verified: Verified::NotAsked,
            revision: checkout.revision,
            services,
            checked_at: at,
            checked_wall: wall,
            previous,
        })
    }

    async fn check_remote(
        &self,
        key: &CacheKey,
        credentials: GitCredentials,
        repo_lock: Arc<Mutex<()>>,
    ) -> Result<Checkout, SourceError> {
        let dir = self.dir.join(entry_dir_name(key));
        let req = FetchRequest {
            url: key.url.clone(),
            reference: key.reference.clone(),
            credentials,
            deadline: Instant::now() + self.timeout,
        };
        let url = redact_url(&key.url);
        let task = tokio::task::spawn_blocking(move || {
            let _held = repo_lock.lock().unwrap_or_else(|p| p.into_inner());
            fetch_checkout(&dir, &req)
        });
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), task).await {
            Err(_) => Err(SourceError::Timeout {
                url,
                secs: self.timeout.as_secs(),
            }),
            Ok(Err(join)) => Err(SourceError::Task {
                url,
                message: join.to_string(),
            }),
            Ok(Ok(Err(GitError::Timeout { url, .. }))) => Err(SourceError::Timeout {
                url,
                secs: self.timeout.as_secs(),
            }),
            Ok(Ok(r)) => Ok(r?),
        }
    }
}

/// A folder name for a cache entry: readable prefix plus a hash of the key.
fn entry_dir_name(key: &CacheKey) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key.url.as_bytes());
    h.update([0]);
    h.update(key.reference.to_string().as_bytes());
    h.update([0]);
    h.update(key.credentials.as_bytes());
    let digest = hex::encode(h.finalize());
    let tail: String = redact_url(&key.url)
        .rsplit('/')
        .next()
        .unwrap_or("repo")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(40)
        .collect();
    format!("{tail}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> CacheKey {
        CacheKey {
            url: url.to_string(),
            reference: GitReference::Branch("main".into()),
            credentials: String::new(),
        }
    }

    #[test]
    fn entries_no_pair_asks_for_are_pruned_and_held_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = SourceCache::new(dir.path().to_path_buf(), Duration::from_secs(5));
        let _held = cache.entry(&key("https://git.example/held.git"));
        cache.entry(&key("https://git.example/idle.git"));
        cache.entry(&key("https://git.example/recent.git"));
        assert_eq!(cache.len(), 3);
        cache.prune(Instant::now());
        assert_eq!(cache.len(), 3, "nothing is old yet");
        let later = Instant::now() + UNUSED_FOR + Duration::from_secs(1);
        cache.prune(later);
        // The idle and recent entries are old by then; the held one is in use.
        assert_eq!(cache.len(), 1);
        assert!(
            cache
                .entries
                .lock()
                .expect("lock")
                .contains_key(&key("https://git.example/held.git"))
        );
    }
}
