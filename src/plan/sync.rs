//! The sync plan, pure: for one site, what to write to make it match the
//! revision (honouring Report mode, selfHeal, prune and the prune guards),
//! and the gate in front of the active site: it changes only after every
//! passive site holds the revision and answers its health check.

use crate::api::status::AdoptionPlan;
use crate::api::{ANNOTATION_APPROVE_ADOPTION, AdoptMode, SyncMode, SyncSpec};
use crate::plan::diff::{ServiceSet, SiteDiff, diff};
use crate::plan::digest::{Digests, diff_by_digest};
use crate::plan::prune::{PruneBlocked, PruneInput, check_prune};

/// One site as the sync sees it.
#[derive(Debug, Clone)]
pub struct SiteView<'a> {
    pub name: &'a str,
    /// Services on the site now.
    pub live: &'a ServiceSet,
    /// The revision last applied to the site in full (from status).
    pub synced_revision: Option<&'a str>,
    /// Joining the pair (status.sites[].joining): deletions wait for approval.
    pub joining: bool,
    /// The pair has never synced this site (no synced revision in status):
    /// under spec.sync.adopt Manual, a first sync that would replace or
    /// delete waits for the adoption annotation.
    pub adopting: bool,
    /// The revision the adoption annotation accepts, if any.
    pub adoption_approved: Option<&'a str>,
    /// The sync's change window is closed: why and until when.
    pub window_closed: Option<&'a str>,
}

/// Why some or all of a site's drift is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// spec.sync.mode is Report.
    ReportMode,
    /// selfHeal is off and the site already holds this revision: the drift
    /// was made on the site, outside git.
    SelfHealOff,
    /// spec.sync.prune is off: deletions are left.
    PruneOff,
    /// A prune guard refused; nothing is written to the site.
    Prune(PruneBlocked),
    /// A first sync over the site's own services waits for a person to
    /// accept its plan (the drift); nothing is written to the site.
    Adoption { site: String, revision: String },
    /// The sync's change window is closed (spec.windows): why, until when.
    OutsideWindow(String),
}

impl Hold {
    pub fn message(&self) -> String {
        match self {
            Hold::ReportMode => "spec.sync.mode is Report: drift is reported, not applied".into(),
            Hold::SelfHealOff => {
                "spec.sync.selfHeal is off: changes made on the site outside git are reported, not reverted"
                    .into()
            }
            Hold::PruneOff => {
                "spec.sync.prune is off: services not in git are left on the site".into()
            }
            Hold::Prune(p) => p.to_string(),
            Hold::OutsideWindow(why) => why.clone(),
            Hold::Adoption { site, revision } => format!(
                "site {site} is new to the pair and its first sync would replace or delete services it has \
                 (status.sites[].adoptionPlan lists every write); nothing is written until the plan is \
                 accepted with: kubectl annotate shp <name> {ANNOTATION_APPROVE_ADOPTION}={revision} \
                 (or set spec.sync.adopt: Automatic)"
            ),
        }
    }
}

/// What to do on one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePlan {
    pub name: String,
    /// Everything that differs from the revision.
    pub drift: SiteDiff,
    /// What to write now (a subset of `drift`).
    pub apply: SiteDiff,
    /// Why part of the drift is not written, if it is not.
    pub hold: Option<Hold>,
}

impl SitePlan {
    /// Will the site hold the revision once `apply` is written? (With
    /// prune off, services left behind do not count against it.)
    pub fn reaches_revision(&self) -> bool {
        matches!(self.hold, None | Some(Hold::PruneOff))
    }

    /// The writes waiting for the adoption annotation, if the plan waits
    /// (no deletions when spec.sync.prune is off).
    pub fn adoption(&self, prune: bool) -> Option<AdoptionPlan> {
        let Some(Hold::Adoption { revision, .. }) = &self.hold else {
            return None;
        };
        Some(AdoptionPlan {
            revision: revision.clone(),
            create: self.drift.create.clone(),
            replace: self.drift.replace.clone(),
            delete: if prune {
                self.drift.delete.clone()
            } else {
                Vec::new()
            },
        })
    }
}

/// Plan one site against the revision.
pub fn plan_site(
    site: &SiteView<'_>,
    desired: &ServiceSet,
    revision: &str,
    sync: &SyncSpec,
    approved_prune: Option<&str>,
) -> SitePlan {
    plan_site_by_digest(site, desired, None, revision, sync, approved_prune)
}

/// [`plan_site`], comparing services by `digests` (the desired set's and
/// the live set's, `plan::digest`) when given: the same plan, cheaper.
pub fn plan_site_by_digest(
    site: &SiteView<'_>,
    desired: &ServiceSet,
    digests: Option<(&Digests, &Digests)>,
    revision: &str,
    sync: &SyncSpec,
    approved_prune: Option<&str>,
) -> SitePlan {
    let drift = match digests {
        Some((want, have)) => diff_by_digest(desired, want, site.live, have),
        None => diff(desired, site.live),
    };
    let held = |hold: Hold| SitePlan {
        name: site.name.to_string(),
        drift: drift.clone(),
        apply: SiteDiff::default(),
        hold: Some(hold),
    };
    if drift.is_empty() {
        return SitePlan {
            name: site.name.to_string(),
            drift,
            apply: SiteDiff::default(),
            hold: None,
        };
    }
    if sync.mode == SyncMode::Report {
        return held(Hold::ReportMode);
    }
    if let Some(why) = site.window_closed {
        return held(Hold::OutsideWindow(why.to_string()));
    }
    if !sync.self_heal && site.synced_revision == Some(revision) {
        return held(Hold::SelfHealOff);
    }
    let accepted = site.adopting && site.adoption_approved == Some(revision);
    let overwrites = !drift.replace.is_empty() || (sync.prune && !drift.delete.is_empty());
    if site.adopting && sync.adopt == AdoptMode::Manual && overwrites && !accepted {
        return held(Hold::Adoption {
            site: site.name.to_string(),
            revision: revision.to_string(),
        });
    }
    // An accepted adoption plan listed every deletion: it approves them.
    let approved_prune = if accepted {
        Some(revision)
    } else {
        approved_prune
    };
    let mut apply = drift.clone();
    let mut hold = None;
    if !sync.prune {
        apply.delete.clear();
        if !drift.delete.is_empty() {
            hold = Some(Hold::PruneOff);
        }
    }
    let guard = PruneInput {
        site: site.name,
        revision,
        live: site.live.len(),
        desired: desired.len(),
        deletes: apply.delete.len(),
        allow_empty: sync.allow_empty,
        max_prune_fraction: sync.max_prune_fraction,
        approved_revision: approved_prune,
        joining: site.joining,
        delete_names: &apply.delete,
    };
    if let Err(blocked) = check_prune(&guard) {
        return held(Hold::Prune(blocked));
    }
    SitePlan {
        name: site.name.to_string(),
        drift,
        apply,
        hold,
    }
}

/// How a passive site came out of its sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveOutcome {
    pub name: String,
    /// Why the site could not be synced (unreachable, a write failed), if so.
    pub error: Option<String>,
    /// The revision the site now holds in full, if known.
    pub synced_revision: Option<String>,
    /// Whether its health check passed after the apply.
    pub healthy: bool,
    /// A prune guard or Report mode held it back.
    pub hold: Option<String>,
}

/// Why the active site is not synced now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateClosed {
    /// A passive could not be synced.
    PassiveFailed { site: String, why: String },
    /// A passive did not take the revision (held back).
    PassiveHeld { site: String, why: String },
    /// A passive took the revision and then failed its health check.
    PassiveUnhealthy { site: String, revision: String },
}

impl GateClosed {
    pub fn message(&self) -> String {
        match self {
            GateClosed::PassiveFailed { site, why } => {
                format!("the active site waits: passive site {site} could not be synced: {why}")
            }
            GateClosed::PassiveHeld { site, why } => {
                format!(
                    "the active site waits: passive site {site} did not take the revision: {why}"
                )
            }
            GateClosed::PassiveUnhealthy { site, revision } => format!(
                "sync halted: passive site {site} fails its health check after applying revision {revision}; \
                 the active site was not touched"
            ),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            GateClosed::PassiveFailed { .. } => "PassiveSyncFailed",
            GateClosed::PassiveHeld { .. } => "PassiveHeld",
            GateClosed::PassiveUnhealthy { .. } => "PassiveUnhealthy",
        }
    }
}

/// The active site may change only when every passive holds `revision`
/// and is healthy. Checked in the order given; the first failure is named.
pub fn active_gate(passives: &[PassiveOutcome], revision: &str) -> Result<(), GateClosed> {
    for p in passives {
        if let Some(why) = &p.error {
            return Err(GateClosed::PassiveFailed {
                site: p.name.clone(),
                why: why.clone(),
            });
        }
        if p.synced_revision.as_deref() != Some(revision) {
            return Err(GateClosed::PassiveHeld {
                site: p.name.clone(),
                why: p
                    .hold
                    .clone()
                    .unwrap_or_else(|| "it does not hold the revision".into()),
            });
        }
        if !p.healthy {
            return Err(GateClosed::PassiveUnhealthy {
                site: p.name.clone(),
                revision: revision.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
