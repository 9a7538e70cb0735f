//! The status journal: the one writer of a pair's status in a trip. Every
//! write composes the conditions and phase from the status data and the
//! trip's findings (`plan::conditions::compose`), then applies it with
//! server-side apply on the status subresource under the one field
//! manager, only while this replica leads, only when something changed,
//! and always guarded by the resourceVersion the status was planned from:
//! status.epoch, status.activeSite and the promotion phase never go
//! backwards (a stale write fails with a conflict and the trip is planned
//! again on a fresh read). What a write finished (promotions, waits for an
//! old active) is counted there. The crash points of the resume tests sit
//! right after the write that precedes a step.

use std::borrow::Cow;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::error::JournalError;
use crate::api::conditions::Condition;
use crate::api::{FIELD_MANAGER, SiteHAPair, SiteHAPairStatus};
use crate::controller::{Context, PairKey};
use crate::plan::conditions::{Composed, Findings, compose};
use crate::plan::promotion_commit::record_before;
use crate::plan::promotion_types::Step;
use crate::plan::time::Timestamp;

/// What this trip last wrote (or read), at which resourceVersion, and
/// what every composition of it is measured against.
#[derive(Debug, Clone)]
pub struct StatusJournal<'a> {
    /// Borrowed from the object as read until this trip writes.
    written: Option<Cow<'a, SiteHAPairStatus>>,
    resource_version: Option<String>,
    /// The conditions the last trip wrote: transition times and Events
    /// are measured against them.
    previous: &'a [Condition],
    generation: i64,
    /// The trip's one reading of the clock.
    now: Timestamp,
}

/// Whether a write went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Written,
    /// The composed status equals the one last written or read.
    Unchanged,
}

impl<'a> StatusJournal<'a> {
    /// Open the journal on the object as read, at the trip's clock reading.
    pub fn open(obj: &'a SiteHAPair, now: Timestamp) -> Self {
        Self {
            written: obj.status.as_ref().map(Cow::Borrowed),
            resource_version: obj.metadata.resource_version.clone(),
            previous: obj
                .status
                .as_ref()
                .map(|s| s.conditions.as_slice())
                .unwrap_or_default(),
            generation: obj.metadata.generation.unwrap_or(0),
            now,
        }
    }

    /// The trip's one clock reading.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The resourceVersion of the object as this trip last read or wrote
    /// it: what a later write of this trip is guarded by.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// The status `data` and `findings` compose to (pure).
    pub fn compose(
        &self,
        obj: &SiteHAPair,
        data: &SiteHAPairStatus,
        findings: &Findings,
    ) -> Composed {
        compose(
            self.previous,
            &obj.spec,
            data,
            findings,
            self.generation,
            self.now,
        )
    }

    /// Compose and write; returns the composition (its Events are the
    /// trip's to publish once, from the last one).
    pub async fn record(
        &mut self,
        ctx: &Context,
        obj: &SiteHAPair,
        data: &SiteHAPairStatus,
        findings: &Findings,
    ) -> Result<(Composed, Recorded), JournalError> {
        let composed = self.compose(obj, data, findings);
        let recorded = self.write(ctx, obj, &composed.status).await?;
        Ok((composed, recorded))
    }

    /// Compose and write the phase of a step before the step is taken;
    /// then the crash point of the resume tests.
    pub async fn before_step(
        &mut self,
        ctx: &Context,
        obj: &SiteHAPair,
        data: &SiteHAPairStatus,
        findings: &Findings,
    ) -> Result<(), JournalError> {
        let (composed, _) = self.record(ctx, obj, data, findings).await?;
        crash_point(&composed.status);
        Ok(())
    }

    /// Before a promotion's step: write the status that planned it when the
    /// step must be recorded first (`plan::promotion_commit`), else go on
    /// on the record an earlier write made; then the crash point.
    pub async fn before_promotion_step(
        &mut self,
        ctx: &Context,
        obj: &SiteHAPair,
        data: &SiteHAPairStatus,
        findings: &Findings,
        step: &Step,
    ) -> Result<(), JournalError> {
        if record_before(step, self.written.as_deref(), data) {
            return self.before_step(ctx, obj, data, findings).await;
        }
        crash_point(data);
        Ok(())
    }

    /// Apply `status` unless it equals the last one, with the
    /// resourceVersion as a precondition.
    pub async fn write(
        &mut self,
        ctx: &Context,
        obj: &SiteHAPair,
        status: &SiteHAPairStatus,
    ) -> Result<Recorded, JournalError> {
        if !needs_write(self.written.as_deref(), status) {
            return Ok(Recorded::Unchanged);
        }
        if !ctx.is_leader() {
            return Err(JournalError::NotLeader);
        }
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
        let result = apply_status_at(&api, &name, status, self.resource_version.as_deref()).await;
        match result {
            Ok(resource_version) => {
                self.resource_version = resource_version;
                // What this write finished (promotions, a wait for an old
                // active) is counted once: against the status it replaced.
                ctx.metrics.pairs.observe_transition(
                    &namespace,
                    &name,
                    self.written.as_deref(),
                    status,
                    self.now,
                );
                self.written = Some(Cow::Owned(status.clone()));
                // What this replica wrote is what it can vouch for.
                let key = PairKey::new(&namespace, &name);
                ctx.remember_version(&key, self.resource_version.as_deref());
                Ok(Recorded::Written)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Err(JournalError::Conflict {
                resource_version: self.resource_version.clone().unwrap_or_default(),
            }),
            Err(source) => Err(JournalError::Write(source)),
        }
    }
}

/// A write is needed when the status differs from the one last written or
/// read (a steady pair is never written).
fn needs_write(last: Option<&SiteHAPairStatus>, next: &SiteHAPairStatus) -> bool {
    last != Some(next)
}

/// Server-side apply of `status` with the one field manager, refused by the
/// API server (409) unless the object is still at `resource_version`.
/// Returns the new resourceVersion.
pub async fn apply_status_at(
    api: &Api<SiteHAPair>,
    name: &str,
    status: &SiteHAPairStatus,
    resource_version: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    let mut patch = json!({
        "apiVersion": "sitehapair.io/v1alpha1",
        "kind": "SiteHAPair",
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let updated = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(updated.metadata.resource_version)
}

/// Fault injection for the resume tests, compiled only with the
/// `failpoints` feature (the test command's builds): with
/// `SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE=<phase>` the process exits at once
/// (no cleanup, the Lease kept, like SIGKILL) right before taking the step
/// of that promotion phase (or standby-first change step,
/// status.activeChange), after writing it when the step is recorded first.
#[cfg(feature = "failpoints")]
fn crash_point(status: &SiteHAPairStatus) {
    let promotion = status.promotion.as_ref().map(|p| p.phase.as_str());
    let change = status.active_change.as_ref().map(|c| c.step.as_str());
    let Ok(exit_at) = std::env::var("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE") else {
        return;
    };
    if let Some(phase) = [promotion, change]
        .into_iter()
        .flatten()
        .find(|p| *p == exit_at)
    {
        tracing::warn!(phase, "failpoint: exiting before the step of this phase");
        std::process::exit(86);
    }
}

/// Without the `failpoints` feature there is no crash switch at all.
#[cfg(not(feature = "failpoints"))]
fn crash_point(_status: &SiteHAPairStatus) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_equal_to_the_last_one_is_not_written() {
        let s = SiteHAPairStatus {
            epoch: 3,
            ..SiteHAPairStatus::default()
        };
        assert!(!needs_write(Some(&s), &s));
        let mut moved = s.clone();
        moved.epoch = 4;
        assert!(needs_write(Some(&s), &moved));
        assert!(needs_write(None, &s), "a pair with no status gets one");
    }
}
