//! Cheap site polling: for each site, the `ETag` of its last full service
//! listing that matched the revision exactly. While the site answers a
//! conditional `GET /services` with 304 and the revision is the same, the
//! site still holds exactly the revision and the listing is not read. No
//! copy of the services is kept: only the tag and what it matched.
//! Also when each site's `GET /info` (version, token key) was last read:
//! it changes with upgrades, not between health checks, so at rest it is
//! read once a minute.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// What a site's ETag was seen to match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Matched {
    etag: String,
    /// The desired set it matched: source URL, folder and commit.
    desired: String,
}

#[derive(Default)]
pub struct ListingMemo {
    by_pair: Mutex<HashMap<String, HashMap<String, Matched>>>,
    info_read: Mutex<HashMap<String, HashMap<String, std::time::Instant>>>,
}

/// How often a site's `GET /info` is read at rest.
pub const INFO_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl ListingMemo {
    /// The ETag to send for `site` of `pair` (namespace/name), when it last
    /// matched `desired` exactly.
    pub fn etag_for(&self, pair: &str, site: &str, desired: &str) -> Option<String> {
        let m = self.by_pair.lock().ok()?;
        let seen = m.get(pair)?.get(site)?;
        (seen.desired == desired).then(|| seen.etag.clone())
    }

    /// The site's listing at `etag` matched `desired` exactly.
    pub fn matched(&self, pair: &str, site: &str, etag: &str, desired: &str) {
        if let Ok(mut m) = self.by_pair.lock() {
            m.entry(pair.to_string()).or_default().insert(
                site.to_string(),
                Matched {
                    etag: etag.to_string(),
                    desired: desired.to_string(),
                },
            );
        }
    }

    /// The site changed (or was changed), or did not match: list it whole next time.
    pub fn unknown(&self, pair: &str, site: &str) {
        if let Ok(mut m) = self.by_pair.lock()
            && let Some(sites) = m.get_mut(pair)
        {
            sites.remove(site);
        }
    }

    pub fn forget(&self, pair: &str) {
        if let Ok(mut m) = self.by_pair.lock() {
            m.remove(pair);
        }
        if let Ok(mut m) = self.info_read.lock() {
            m.remove(pair);
        }
    }

    pub fn keys(&self) -> HashSet<String> {
        let mut keys: HashSet<String> = self
            .by_pair
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Ok(m) = self.info_read.lock() {
            keys.extend(m.keys().cloned());
        }
        keys
    }

    /// Is the site's `GET /info` due at `now` (never read, or INFO_EVERY ago)?
    pub fn info_due(&self, pair: &str, site: &str, now: std::time::Instant) -> bool {
        self.info_read
            .lock()
            .ok()
            .and_then(|m| m.get(pair)?.get(site).copied())
            .is_none_or(|at| now.duration_since(at) >= INFO_EVERY)
    }

    /// The site's `GET /info` was read at `now`.
    pub fn info_was_read(&self, pair: &str, site: &str, now: std::time::Instant) {
        if let Ok(mut m) = self.info_read.lock() {
            m.entry(pair.to_string())
                .or_default()
                .insert(site.to_string(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_offered_only_for_the_desired_set_it_matched() {
        let memo = ListingMemo::default();
        assert_eq!(memo.etag_for("ns/gis", "east", "u#p@r1"), None);
        memo.matched("ns/gis", "east", "\"7\"", "u#p@r1");
        assert_eq!(
            memo.etag_for("ns/gis", "east", "u#p@r1").as_deref(),
            Some("\"7\"")
        );
        // A new revision (or folder, or URL) is compared in full.
        assert_eq!(memo.etag_for("ns/gis", "east", "u#p@r2"), None);
        assert_eq!(memo.etag_for("ns/gis", "west", "u#p@r1"), None);
        memo.unknown("ns/gis", "east");
        assert_eq!(memo.etag_for("ns/gis", "east", "u#p@r1"), None);
        memo.matched("ns/gis", "east", "\"8\"", "u#p@r1");
        memo.forget("ns/gis");
        assert!(memo.keys().is_empty());
    }

    #[test]
    fn info_is_due_once_a_minute_per_site() {
        let memo = ListingMemo::default();
        let t0 = std::time::Instant::now();
        assert!(memo.info_due("ns/gis", "east", t0));
        memo.info_was_read("ns/gis", "east", t0);
        assert!(!memo.info_due("ns/gis", "east", t0 + INFO_EVERY / 2));
        assert!(memo.info_due("ns/gis", "west", t0));
        assert!(memo.info_due("ns/gis", "east", t0 + INFO_EVERY));
        memo.forget("ns/gis");
        assert!(memo.info_due("ns/gis", "east", t0));
    }
}
