//! The `SiteHAPair` resource: spec, status, conditions, defaults, and the
//! names (group, finalizer, annotations, field manager) the rest of the code
//! shares.

pub mod change;
pub mod conditions;
pub mod defaults;
pub mod duration;
pub mod hooks;
pub mod redact;
pub mod rehearsal;
pub mod spec;
pub mod status;
pub mod verify;
pub mod windows;

pub use change::{ActiveChangeStatus, ChangeStep};
pub use conditions::{Condition, ConditionStatus};
pub use hooks::*;
pub use rehearsal::*;
pub use spec::*;
pub use status::*;
pub use verify::*;
pub use windows::*;

use kube::CustomResourceExt;

/// The one server-side-apply field manager of the operator.
pub const FIELD_MANAGER: &str = "sitehapair-operator";
/// Finalizer that lets the operator remove what it made before a pair goes.
pub const FINALIZER: &str = "sitehapair.io/cleanup";
/// Annotation asking for an immediate refresh; echoed in status.lastHandledReconcileAt.
pub const ANNOTATION_RECONCILE_REQUESTED_AT: &str = "sitehapair.io/reconcile-requested-at";
/// Annotation approving a large prune for one revision.
pub const ANNOTATION_APPROVE_PRUNE: &str = "sitehapair.io/approve-prune";
/// Annotation accepting, for one revision, the first sync's plan over
/// sites the pair has never synced (status.sites[].adoptionPlan).
pub const ANNOTATION_APPROVE_ADOPTION: &str = "sitehapair.io/approve-adoption";
/// Lets one action through a closed change window now: a site name (the
/// planned promotion to it) or a revision (its sync). Recorded with who.
pub const ANNOTATION_WINDOW_OVERRIDE: &str = "sitehapair.io/window-override";
/// Who set the window override (`sitehapair promote --now` writes it from
/// the API server's SelfSubjectReview).
pub const ANNOTATION_WINDOW_OVERRIDE_BY: &str = "sitehapair.io/window-override-by";
/// Who asked for the promotion to spec.activeSite (`<site> by <user>`,
/// written by `sitehapair promote`), recorded in status.history.
pub const ANNOTATION_REQUESTED_BY: &str = "sitehapair.io/requested-by";
/// Why: free text a person may set with a promotion, recorded in
/// status.history.
pub const ANNOTATION_PROMOTION_REASON: &str = "sitehapair.io/promotion-reason";
/// Promote to this site although its version or token key differs from
/// the active's (an explicit, audited override of the parity check).
pub const ANNOTATION_ALLOW_PARITY_MISMATCH: &str = "sitehapair.io/allow-parity-mismatch";
/// Annotation letting a promotion go on past a site that answers but
/// cannot be demoted (`<site>@<epoch>`, the epoch status.sites shows for
/// it): a person's decision that the site is broken; recorded in status
/// history and an Event with who asked. Two active sites are possible
/// while that site still serves: docs/runbook.md says what it risks.
pub const ANNOTATION_FORCE_PAST: &str = "sitehapair.io/force-past";
/// Who asked for the force-past: `<SITE@EPOCH> by <who>`, set by
/// `sitehapair promote --force-past` from the API server's
/// SelfSubjectReview; believed only for the force-past value it names.
pub const ANNOTATION_FORCE_PAST_BY: &str = "sitehapair.io/force-past-by";
/// Who asked for the rehearsal: `<id> by <who>`, written by `sitehapair
/// promote --rehearse` with spec.promotion.rehearse; believed only for
/// the id it names.
pub const ANNOTATION_REHEARSAL_REQUESTED_BY: &str = "sitehapair.io/rehearsal-requested-by";
/// Annotation acknowledging an automatic failover inside minInterval.
pub const ANNOTATION_ACK_FAILOVER: &str = "sitehapair.io/ack-failover";
/// Set by the operator with spec.activeSite on an automatic failover:
/// `<site>: <why>`.
pub const ANNOTATION_AUTOMATIC_FAILOVER: &str = "sitehapair.io/automatic-failover";
/// The field manager of the operator's automatic failover (a spec change of
/// its own, told apart from the user's).
pub const FAILOVER_FIELD_MANAGER: &str = "sitehapair-failover";

/// The CustomResourceDefinition as YAML, exactly what `sitehapair crd` prints
/// and what crds/sitehapair.io_sitehapairs.yaml holds.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&SiteHAPair::crd())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_crd_matches_the_generated_one() {
        let file = include_str!("../../crds/sitehapair.io_sitehapairs.yaml");
        let generated = super::crd_yaml().expect("CRD serializes");
        assert!(
            file == generated,
            "crds/sitehapair.io_sitehapairs.yaml is stale: run `cargo run -- crd > crds/sitehapair.io_sitehapairs.yaml`"
        );
    }
}
