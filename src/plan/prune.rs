//! The prune guards, pure: an empty source never empties a site unless
//! allowed, and deleting more than `maxPruneFraction` percent of a site's
//! services needs the annotation `sitehapair.io/approve-prune: <revision>`.

use thiserror::Error;

use crate::api::ANNOTATION_APPROVE_PRUNE;

/// Why a prune may not run. Each names the check and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PruneBlocked {
    #[error(
        "site {site}: revision {revision} has no services and would delete all {live} of the site's services; \
         set spec.sync.allowEmpty: true if that is intended"
    )]
    EmptySource {
        site: String,
        revision: String,
        live: usize,
    },
    #[error(
        "site {site}: revision {revision} would delete {deletes} of {live} services ({percent}%), more than \
         spec.sync.maxPruneFraction {max}%; approve with: kubectl annotate shp <name> {annotation}={revision}"
    )]
    TooMany {
        site: String,
        revision: String,
        deletes: usize,
        live: usize,
        percent: usize,
        max: i32,
        annotation: &'static str,
    },
}

/// What the guard needs to know about one site and the revision.
#[derive(Debug, Clone)]
pub struct PruneInput<'a> {
    pub site: &'a str,
    pub revision: &'a str,
    /// Services on the site now.
    pub live: usize,
    /// Services the source has.
    pub desired: usize,
    /// Services the sync would delete.
    pub deletes: usize,
    pub allow_empty: bool,
    pub max_prune_fraction: i32,
    /// The value of the approve-prune annotation, if any.
    pub approved_revision: Option<&'a str>,
}

/// Decide whether the deletions may go ahead.
pub fn check_prune(i: &PruneInput<'_>) -> Result<(), PruneBlocked> {
    if i.deletes == 0 {
        return Ok(());
    }
    if i.desired == 0 && !i.allow_empty {
        return Err(PruneBlocked::EmptySource {
            site: i.site.to_string(),
            revision: i.revision.to_string(),
            live: i.live,
        });
    }
    let approved = i.approved_revision == Some(i.revision);
    // deletes/live > max/100, in integers.
    let too_many =
        i.deletes * 100 > i.live * usize::try_from(i.max_prune_fraction.max(0)).unwrap_or(0);
    if too_many && !approved {
        return Err(PruneBlocked::TooMany {
            site: i.site.to_string(),
            revision: i.revision.to_string(),
            deletes: i.deletes,
            live: i.live,
            percent: i.deletes * 100 / i.live.max(1),
            max: i.max_prune_fraction,
            annotation: ANNOTATION_APPROVE_PRUNE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(live: usize, desired: usize, deletes: usize) -> PruneInput<'static> {
        PruneInput {
            site: "east",
            revision: "abc",
            live,
            desired,
            deletes,
            allow_empty: false,
            max_prune_fraction: 50,
            approved_revision: None,
        }
    }

    #[test]
    fn empty_source_is_refused_unless_allowed() {
        let e = check_prune(&input(4, 0, 4)).unwrap_err();
        assert!(e.to_string().contains("allowEmpty"), "{e}");
        let mut i = input(4, 0, 4);
        i.allow_empty = true;
        i.max_prune_fraction = 100;
        assert_eq!(check_prune(&i), Ok(()));
    }

    #[test]
    fn large_prune_needs_approval_of_that_revision() {
        let e = check_prune(&input(10, 4, 6)).unwrap_err();
        assert!(
            e.to_string().contains("sitehapair.io/approve-prune=abc"),
            "{e}"
        );
        let mut i = input(10, 4, 6);
        i.approved_revision = Some("older");
        assert!(
            check_prune(&i).is_err(),
            "approval of another revision does not count"
        );
        i.approved_revision = Some("abc");
        assert_eq!(check_prune(&i), Ok(()));
    }

    #[test]
    fn prune_at_the_limit_passes() {
        assert_eq!(check_prune(&input(10, 5, 5)), Ok(()));
        assert_eq!(check_prune(&input(10, 10, 0)), Ok(()));
    }

    proptest! {
        #[test]
        fn never_allows_more_than_the_fraction_without_approval(
            live in 1usize..500, deletes in 0usize..500, max in 0i32..=100, desired in 1usize..500
        ) {
            let deletes = deletes.min(live);
            let mut i = input(live, desired, deletes);
            i.max_prune_fraction = max;
            if check_prune(&i).is_ok() {
                prop_assert!(deletes * 100 <= live * max as usize);
            }
        }
    }
}
