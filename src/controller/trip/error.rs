//! What each step of a trip can fail with, one enum per step, and the
//! trip's error that says which step failed. The pair is named by the
//! reconcile's error around it.

use thiserror::Error;

/// Writing status (the journal).
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("not the leader any more; nothing written")]
    NotLeader,
    #[error(
        "status moved since it was read (resourceVersion {resource_version}); re-reading and planning again"
    )]
    Conflict { resource_version: String },
    #[error("writing status: {0}")]
    Write(#[source] kube::Error),
}

/// Pointing the traffic objects at a site.
#[derive(Debug, Error)]
pub enum TrafficStepError {
    #[error("not the leader any more (or its lease ran out before the write could land)")]
    NotLeader,
    #[error(transparent)]
    Apply(#[from] crate::traffic::TrafficError),
}

/// A step that writes its phase to status and then acts: the standby-first
/// change, the promotion, the hooks.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("not the leader any more; the step was not taken")]
    NotLeader,
    #[error(transparent)]
    Traffic(#[from] TrafficStepError),
}

/// The automatic failover's change of spec.activeSite.
#[derive(Debug, Error)]
pub enum FailoverError {
    #[error("not the leader any more; spec.activeSite not changed")]
    NotLeader,
    #[error(
        "the pair moved since the failover was decided (resourceVersion {resource_version}); deciding again"
    )]
    Moved { resource_version: String },
    #[error("changing spec.activeSite: {0}")]
    Patch(#[source] kube::Error),
}

/// Which step of a trip failed, and how.
#[derive(Debug, Error)]
pub enum TripError {
    #[error("standby-first change: {0}")]
    Change(#[source] StepError),
    #[error("promotion: {0}")]
    Promote(#[source] StepError),
    #[error("hooks: {0}")]
    Hooks(#[source] StepError),
    #[error("rehearsal: {0}")]
    Rehearse(#[source] StepError),
    #[error("recording status: {0}")]
    Record(#[source] JournalError),
    #[error("automatic failover: {0}")]
    Failover(#[source] FailoverError),
    #[error("traffic: {0}")]
    Traffic(#[source] TrafficStepError),
}

impl TripError {
    /// A write found the object moved: plan again on a fresh read.
    pub fn is_conflict(&self) -> bool {
        let journal = match self {
            TripError::Change(StepError::Journal(j))
            | TripError::Promote(StepError::Journal(j))
            | TripError::Hooks(StepError::Journal(j))
            | TripError::Rehearse(StepError::Journal(j))
            | TripError::Record(j) => j,
            TripError::Failover(FailoverError::Moved { .. }) => return true,
            _ => return false,
        };
        matches!(journal, JournalError::Conflict { .. })
    }

    /// Short reason used as the metrics label (the labels of before the
    /// trip had steps: Conflict, NotLeader, StatusWrite, Traffic, Failover).
    pub fn metric_reason(&self) -> &'static str {
        let step = match self {
            TripError::Change(s)
            | TripError::Promote(s)
            | TripError::Hooks(s)
            | TripError::Rehearse(s) => s,
            TripError::Record(j) => return journal_reason(j),
            TripError::Failover(FailoverError::NotLeader) => return "NotLeader",
            TripError::Failover(FailoverError::Moved { .. }) => return "Conflict",
            TripError::Failover(FailoverError::Patch(_)) => return "Failover",
            TripError::Traffic(t) => return traffic_reason(t),
        };
        match step {
            StepError::Journal(j) => journal_reason(j),
            StepError::NotLeader => "NotLeader",
            StepError::Traffic(t) => traffic_reason(t),
        }
    }
}

fn journal_reason(j: &JournalError) -> &'static str {
    match j {
        JournalError::NotLeader => "NotLeader",
        JournalError::Conflict { .. } => "Conflict",
        JournalError::Write(_) => "StatusWrite",
    }
}

fn traffic_reason(t: &TrafficStepError) -> &'static str {
    match t {
        TrafficStepError::NotLeader => "NotLeader",
        TrafficStepError::Apply(_) => "Traffic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict() -> JournalError {
        JournalError::Conflict {
            resource_version: "7".into(),
        }
    }

    /// A status write that found the pair moved, in any step, and a
    /// failover patch refused for the same reason, plan the trip again on
    /// a fresh read; nothing else does.
    #[test]
    fn a_moved_pair_in_any_step_is_a_conflict_and_nothing_else_is() {
        let conflicts = [
            TripError::Change(StepError::Journal(conflict())),
            TripError::Promote(StepError::Journal(conflict())),
            TripError::Hooks(StepError::Journal(conflict())),
            TripError::Record(conflict()),
            TripError::Failover(FailoverError::Moved {
                resource_version: "7".into(),
            }),
        ];
        for e in &conflicts {
            assert!(e.is_conflict(), "{e}");
            assert_eq!(e.metric_reason(), "Conflict", "{e}");
        }
        let others = [
            TripError::Promote(StepError::NotLeader),
            TripError::Record(JournalError::NotLeader),
            TripError::Traffic(TrafficStepError::NotLeader),
            TripError::Failover(FailoverError::NotLeader),
            TripError::Change(StepError::Journal(JournalError::NotLeader)),
        ];
        for e in &others {
            assert!(!e.is_conflict(), "{e}");
            assert_eq!(e.metric_reason(), "NotLeader", "{e}");
        }
    }

    /// The message names the step that failed.
    #[test]
    fn the_error_names_its_step() {
        let e = TripError::Promote(StepError::Journal(conflict()));
        assert!(e.to_string().starts_with("promotion: status moved"), "{e}");
        let e = TripError::Hooks(StepError::NotLeader);
        assert!(e.to_string().starts_with("hooks: not the leader"), "{e}");
    }
}
