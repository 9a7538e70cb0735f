//! Which listing a trip asks of a site, and where it remembers the
//! listings that matched a revision exactly (so that an unchanged site
//! answers 304 and is not read again, or, without ETags, is listed once
//! per source interval at rest).

use super::observe::{Ask, Live, Observed};
use crate::api::GitSource;
use crate::source::cache::Parsed;

/// Where a trip records which listings matched the revision.
pub(crate) struct ListingKeys<'a> {
    pub(crate) memo: &'a crate::controller::listings::ListingMemo,
    /// The pair.
    pub(crate) pair: &'a crate::controller::PairKey,
    /// Source URL, folder and commit: what "matched" means.
    pub(crate) desired: &'a str,
    /// The trip's reading of the monotonic clock.
    pub(crate) now: std::time::Instant,
    /// How long a listing of a site without ETags that matched stands
    /// for the site at rest: the source's interval.
    pub(crate) every: std::time::Duration,
    /// Every site is listed this trip (`plan::schedule::list_every_site`:
    /// a promotion is pending or running, or a person asked for a
    /// reconcile; a push moves the revision, which is enough).
    pub(crate) relist: bool,
}

impl ListingKeys<'_> {
    /// After a site was compared (and maybe written): remember its ETag
    /// only when it holds exactly the revision and nothing was written.
    pub(crate) fn settle(&self, o: &Observed, drift_empty: bool) {
        let wrote = !o.report.wrote.is_empty() || o.report.error.is_some();
        match (&o.services, &o.etag) {
            // Unchanged since the listing that matched: when it was asked
            // this trip, the match stands from now.
            (Some(Live::AsRevision), _) if !wrote => {
                if o.listed {
                    self.memo.listed_again(self.pair, &o.spec_name, self.now);
                }
            }
            // Read in full, or unchanged since the revision before: at this
            // tag the site holds exactly this revision when nothing differed.
            (Some(Live::Listed(_) | Live::AsBefore(_)), Some(tag)) if drift_empty && !wrote => self
                .memo
                .matched(self.pair, &o.spec_name, tag, self.desired, self.now),
            // Read in full by a kind that gives no tag at all (ArcGIS
            // Server, pygeoapi: a listing of several calls): it matched
            // now, and at rest it is listed again a source interval later.
            (Some(Live::Listed(_)), None) if drift_empty && !wrote => self.memo.matched(
                self.pair,
                &o.spec_name,
                UNTAGGED_LISTING,
                self.desired,
                self.now,
            ),
            _ => self.memo.unknown(self.pair, &o.spec_name),
        }
    }
}

/// The tag remembered for a listing its kind gave no tag for: one of the
/// operator's own (never sent to a site, never equal to a body's hash).
/// It carries `BODY_TAG`'s prefix (unit-tested), so `is_body_tag` holds.
pub(crate) const UNTAGGED_LISTING: &str = "sitehapair-body-sha256:untagged";

/// What a listing that matched is remembered against: source URL, folder
/// and commit.
pub(super) fn listing_key(git: &GitSource, revision: &str) -> String {
    format!("{}#{}@{}", git.url, git.path, revision)
}

/// What to ask a site for its services: nothing, when it sends no ETag
/// and a listing within the source's interval matched this revision (and
/// no promotion, refresh or push asks for every site); conditionally on
/// the tag that matched this revision; else on the one that matched the
/// revision before (`before`: its key and services); else in full.
pub(super) fn ask_services(
    listings: &ListingKeys<'_>,
    site: &str,
    before: Option<&(String, &Parsed)>,
) -> Ask {
    let (memo, pair, desired) = (listings.memo, listings.pair, listings.desired);
    if !listings.relist && memo.listed_within(pair, site, desired, listings.now, listings.every) {
        return Ask::Remembered;
    }
    if let Some(tag) = listings
        .memo
        .etag_for(listings.pair, site, listings.desired)
    {
        return Ask::Services {
            etag: Some(tag),
            before: None,
        };
    }
    match before.and_then(|(key, services)| {
        Some((listings.memo.etag_for(listings.pair, site, key)?, *services))
    }) {
        Some((tag, services)) => Ask::Services {
            etag: Some(tag),
            before: Some(services.clone()),
        },
        None => Ask::Services {
            etag: None,
            before: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::UNTAGGED_LISTING;
    use crate::sites::answers::{BODY_TAG, body_tag, is_body_tag};

    #[test]
    fn the_tag_of_an_untagged_listing_is_never_sent_and_never_a_bodys_hash() {
        assert!(UNTAGGED_LISTING.starts_with(BODY_TAG));
        assert!(is_body_tag(UNTAGGED_LISTING));
        assert_ne!(body_tag("arcgis https://gis", b""), UNTAGGED_LISTING);
    }
}
