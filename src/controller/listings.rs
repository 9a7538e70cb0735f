//! Cheap site polling: for each site, the `ETag` of its last full service
//! listing that matched the revision exactly. While the site answers a
//! conditional `GET /services` with 304 and the revision is the same, the
//! site still holds exactly the revision and the listing is not read. No
//! copy of the services is kept: only the tag and what it matched.
//! Also when each site's `GET /info` (version, token key) was last read:
//! it changes with upgrades, not between health checks, so at rest it is
//! read once a minute. Both are kept in the pair's memory
//! (`pair_memory`), forgotten with the rest of the pair.

use std::sync::Arc;

use super::pair_key::PairKey;
use super::pair_memory::{Matched, PairMemories};

#[derive(Default)]
pub struct ListingMemo {
    memory: Arc<PairMemories>,
}

/// How often a site's `GET /info` is read at rest.
pub const INFO_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl ListingMemo {
    /// A memo kept in `memory`, the pairs' memory.
    pub fn new(memory: Arc<PairMemories>) -> Self {
        Self { memory }
    }

    /// The ETag to send for `site` of `pair`, when it last matched
    /// `desired` exactly.
    pub fn etag_for(&self, pair: &PairKey, site: &str, desired: &str) -> Option<String> {
        self.memory.read(pair, |m| {
            let seen = m.listings.get(site)?;
            (seen.desired == desired).then(|| seen.etag.clone())
        })
    }

    /// The site's listing at `etag` matched `desired` exactly.
    pub fn matched(&self, pair: &PairKey, site: &str, etag: &str, desired: &str) {
        self.memory.update(pair, |m| {
            m.listings.insert(
                site.to_string(),
                Matched {
                    etag: etag.to_string(),
                    desired: desired.to_string(),
                },
            );
        });
    }

    /// The site changed (or was changed), or did not match: list it whole next time.
    pub fn unknown(&self, pair: &PairKey, site: &str) {
        self.memory.update(pair, |m| {
            m.listings.remove(site);
        });
    }

    /// Is the site's `GET /info` due at `now` (never read, or INFO_EVERY ago)?
    pub fn info_due(&self, pair: &PairKey, site: &str, now: std::time::Instant) -> bool {
        self.memory
            .read(pair, |m| m.info_read.get(site).copied())
            .is_none_or(|at| now.duration_since(at) >= INFO_EVERY)
    }

    /// The site's `GET /info` was read at `now`.
    pub fn info_was_read(&self, pair: &PairKey, site: &str, now: std::time::Instant) {
        self.memory.update(pair, |m| {
            m.info_read.insert(site.to_string(), now);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_offered_only_for_the_desired_set_it_matched() {
        let memory = Arc::new(PairMemories::default());
        let memo = ListingMemo::new(memory.clone());
        let gis = PairKey::new("ns", "gis");
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r1"), None);
        memo.matched(&gis, "east", "\"7\"", "u#p@r1");
        assert_eq!(
            memo.etag_for(&gis, "east", "u#p@r1").as_deref(),
            Some("\"7\"")
        );
        // A new revision (or folder, or URL) is compared in full.
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r2"), None);
        assert_eq!(memo.etag_for(&gis, "west", "u#p@r1"), None);
        memo.unknown(&gis, "east");
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r1"), None);
        memo.matched(&gis, "east", "\"8\"", "u#p@r1");
        memory.forget(&gis);
        assert!(memory.is_empty());
    }

    #[test]
    fn info_is_due_once_a_minute_per_site() {
        let memory = Arc::new(PairMemories::default());
        let memo = ListingMemo::new(memory.clone());
        let gis = PairKey::new("ns", "gis");
        let t0 = std::time::Instant::now();
        assert!(memo.info_due(&gis, "east", t0));
        memo.info_was_read(&gis, "east", t0);
        assert!(!memo.info_due(&gis, "east", t0 + INFO_EVERY / 2));
        assert!(memo.info_due(&gis, "west", t0));
        assert!(memo.info_due(&gis, "east", t0 + INFO_EVERY));
        memory.forget(&gis);
        assert!(memo.info_due(&gis, "east", t0));
    }
}
