//! Cheap site polling: for each site, the `ETag` of its last full service
//! listing that matched the revision exactly. While the site answers a
//! conditional `GET /services` with 304 and the revision is the same, the
//! site still holds exactly the revision and the listing is not read. A
//! site that sends no `ETag` cannot be asked conditionally: its listing is
//! remembered by a hash of its bytes, and at rest it is listed again once
//! per source interval, not on every trip (`listed_within`). No copy of
//! the services is kept: only the tag, what it matched and when.
//! Also when each site's `GET /info` (version, token key) was last read:
//! it changes with upgrades, not between health checks, so at rest it is
//! read once a minute. Both are kept in the pair's memory
//! (`pair_memory`), forgotten with the rest of the pair.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pair_key::PairKey;
use super::pair_memory::{Matched, PairMemories};
use crate::sites::answers::is_body_tag;

#[derive(Default)]
pub struct ListingMemo {
    memory: Arc<PairMemories>,
}

/// How often a site's `GET /info` is read at rest.
pub const INFO_EVERY: Duration = Duration::from_secs(60);

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

    /// The site's listing at `etag`, read at `now`, matched `desired` exactly.
    pub fn matched(&self, pair: &PairKey, site: &str, etag: &str, desired: &str, now: Instant) {
        self.memory.update(pair, |m| {
            m.listings.insert(
                site.to_string(),
                Matched {
                    etag: etag.to_string(),
                    desired: desired.to_string(),
                    at: now,
                },
            );
        });
    }

    /// Did a whole listing of `site`, less than `every` before `now`, match
    /// `desired` exactly, and is its tag the operator's own (the site sends
    /// no `ETag`, so it cannot be asked conditionally)? Then the site need
    /// not be listed this trip: at rest a site without ETags is listed once
    /// per source interval, where one with ETags is asked on every trip.
    pub fn listed_within(
        &self,
        pair: &PairKey,
        site: &str,
        desired: &str,
        now: Instant,
        every: Duration,
    ) -> bool {
        self.memory.read(pair, |m| {
            m.listings.get(site).is_some_and(|seen| {
                seen.desired == desired
                    && is_body_tag(&seen.etag)
                    && now.saturating_duration_since(seen.at) < every
            })
        })
    }

    /// A listing at `now` showed the site unchanged since the one that
    /// matched (304, or the same bytes): the match stands from `now`.
    pub fn listed_again(&self, pair: &PairKey, site: &str, now: Instant) {
        self.memory.update(pair, |m| {
            if let Some(seen) = m.listings.get_mut(site) {
                seen.at = now;
            }
        });
    }

    /// The site changed (or was changed), or did not match: list it whole next time.
    pub fn unknown(&self, pair: &PairKey, site: &str) {
        self.memory.update(pair, |m| {
            m.listings.remove(site);
        });
    }

    /// Is the site's `GET /info` due at `now` (never read, or INFO_EVERY ago)?
    pub fn info_due(&self, pair: &PairKey, site: &str, now: Instant) -> bool {
        self.memory
            .read(pair, |m| m.info_read.get(site).copied())
            .is_none_or(|at| now.duration_since(at) >= INFO_EVERY)
    }

    /// The site's `GET /info` was read at `now`.
    pub fn info_was_read(&self, pair: &PairKey, site: &str, now: Instant) {
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
        let now = Instant::now();
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r1"), None);
        memo.matched(&gis, "east", "\"7\"", "u#p@r1", now);
        assert_eq!(
            memo.etag_for(&gis, "east", "u#p@r1").as_deref(),
            Some("\"7\"")
        );
        // A new revision (or folder, or URL) is compared in full.
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r2"), None);
        assert_eq!(memo.etag_for(&gis, "west", "u#p@r1"), None);
        memo.unknown(&gis, "east");
        assert_eq!(memo.etag_for(&gis, "east", "u#p@r1"), None);
        memo.matched(&gis, "east", "\"8\"", "u#p@r1", now);
        memory.forget(&gis);
        assert!(memory.is_empty());
    }

    #[test]
    fn a_site_without_etags_goes_unlisted_only_within_the_interval_after_a_listing_that_matched() {
        let memory = Arc::new(PairMemories::default());
        let memo = ListingMemo::new(memory.clone());
        let gis = PairKey::new("ns", "gis");
        let every = Duration::from_secs(60);
        let t0 = Instant::now();
        let ours = crate::sites::answers::body_tag("contract http://east", b"{}");
        assert!(!memo.listed_within(&gis, "east", "u#p@r1", t0, every));
        memo.matched(&gis, "east", &ours, "u#p@r1", t0);
        assert!(memo.listed_within(&gis, "east", "u#p@r1", t0 + every / 2, every));
        // Due again a whole interval later, for another revision, another site.
        assert!(!memo.listed_within(&gis, "east", "u#p@r1", t0 + every, every));
        // A listing that found the same bytes starts the interval again.
        memo.listed_again(&gis, "east", t0 + every);
        assert!(memo.listed_within(&gis, "east", "u#p@r1", t0 + every * 3 / 2, every));
        assert!(!memo.listed_within(&gis, "east", "u#p@r1", t0 + every * 2, every));
        assert!(!memo.listed_within(&gis, "east", "u#p@r2", t0, every));
        assert!(!memo.listed_within(&gis, "west", "u#p@r1", t0, every));
        // A site with ETags of its own is asked conditionally on every trip.
        memo.matched(&gis, "west", "\"7\"", "u#p@r1", t0);
        assert!(!memo.listed_within(&gis, "west", "u#p@r1", t0, every));
        // Written to, or failing: listed whole next time.
        memo.unknown(&gis, "east");
        assert!(!memo.listed_within(&gis, "east", "u#p@r1", t0, every));
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
