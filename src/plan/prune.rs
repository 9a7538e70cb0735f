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
    #[error(
        "site {site} is joining the pair and holds {deletes} services not in revision {revision} ({names}); \
         nothing is pruned on a joining site without approval: move them into git, or approve with: \
         kubectl annotate shp <name> {annotation}={revision}"
    )]
    Joining {
        site: String,
        revision: String,
        deletes: usize,
        /// The first few names of the services it would delete.
        names: String,
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
    /// The site is joining the pair: any deletion needs approval.
    pub joining: bool,
    /// Names of the services the sync would delete.
    pub delete_names: &'a [String],
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
    if i.joining && !approved {
        let mut names: Vec<&str> = i.delete_names.iter().take(5).map(String::as_str).collect();
        if i.delete_names.len() > 5 {
            names.push("…");
        }
        return Err(PruneBlocked::Joining {
            site: i.site.to_string(),
            revision: i.revision.to_string(),
            deletes: i.deletes,
            names: names.join(", "),
            annotation: ANNOTATION_APPROVE_PRUNE,
        });
    }
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
            joining: false,
            delete_names: &[],
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

    #[test]
    fn any_deletion_on_a_joining_site_waits_for_approval_naming_the_services() {
        let names: Vec<String> = (1..=7).map(|i| format!("old-{i}")).collect();
        let i = PruneInput {
            site: "north",
            revision: "rev1",
            live: 100,
            desired: 100,
            deletes: 7,
            allow_empty: false,
            max_prune_fraction: 50,
            approved_revision: None,
            joining: true,
            delete_names: &names,
        };
        let e = check_prune(&i).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, PruneBlocked::Joining { .. }), "{m}");
        assert!(
            m.contains("north is joining") && m.contains("old-1, old-2") && m.contains("…"),
            "{m}"
        );
        assert!(!m.contains("old-6"), "{m}");
        assert_eq!(
            check_prune(&PruneInput {
                approved_revision: Some("rev1"),
                ..i.clone()
            }),
            Ok(())
        );
        assert_eq!(
            check_prune(&PruneInput {
                joining: false,
                ..i
            }),
            Ok(())
        );
    }
}
