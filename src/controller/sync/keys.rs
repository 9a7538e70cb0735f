//! Which listing a trip asks of a site, and where it remembers the
//! listings that matched a revision exactly (so that an unchanged site
//! answers 304 and is not read again).

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
}

impl ListingKeys<'_> {
    /// After a site was compared (and maybe written): remember its ETag
    /// only when it holds exactly the revision and nothing was written.
    pub(crate) fn settle(&self, o: &Observed, drift_empty: bool) {
        let wrote = !o.report.wrote.is_empty() || o.report.error.is_some();
        match (&o.services, &o.etag) {
            (Some(Live::AsRevision), _) if !wrote => {}
            // Read in full, or unchanged since the revision before: at this
            // tag the site holds exactly this revision when nothing differed.
            (Some(Live::Listed(_) | Live::AsBefore(_)), Some(tag)) if drift_empty && !wrote => self
                .memo
                .matched(self.pair, &o.spec_name, tag, self.desired),
            _ => self.memo.unknown(self.pair, &o.spec_name),
        }
    }
}

/// What a listing that matched is remembered against: source URL, folder
/// and commit.
pub(super) fn listing_key(git: &GitSource, revision: &str) -> String {
    format!("{}#{}@{}", git.url, git.path, revision)
}

/// What to ask a site for its services: conditionally on the tag that
/// matched this revision; else on the one that matched the revision before
/// (`before`: its key and services); else in full.
pub(super) fn ask_services(
    listings: &ListingKeys<'_>,
    site: &str,
    before: Option<&(String, &Parsed)>,
) -> Ask {
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
