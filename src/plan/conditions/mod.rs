//! Every condition of a pair's status, and its phase, from one place: the
//! steps of a trip return typed findings and set no condition; `compose`
//! calls one function per condition type over those findings and the
//! status data the steps left (rows, source, promotion, hooks) and gives
//! the status to write and the Events its changes are worth. A condition's
//! lastTransitionTime moves only when its status differs from the one the
//! last trip wrote.

mod degraded;
mod events;
mod held;
mod hooks;
mod prerequisites;
mod promotion;
mod ready;
pub mod reasons;
mod sites;
mod source;

pub use degraded::degraded;
pub use held::held;
pub use hooks::hooks_succeeded;
pub use prerequisites::prerequisites;
pub use promotion::{promoting, promotion_blocked};
pub use ready::ready;
pub use sites::{healthy, parity};
pub use source::{in_sync, source_ready, source_verified};

use crate::api::conditions::{Condition, ConditionStatus, find, types};
use crate::api::{Phase, SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::promotion::Block;
pub use crate::plan::sync_status::SyncFindings;
use crate::plan::time::{Timestamp, stamp};
use reasons::FailoverHold;

/// What one condition says, with a typed reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<R> {
    pub status: ConditionStatus,
    pub reason: R,
    pub message: String,
}

impl<R> Verdict<R> {
    pub fn new(status: ConditionStatus, reason: R, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Why the pair does nothing this trip but say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Sites of this pair another pair manages, one message each.
    Claimed(Vec<String>),
    /// What the API server should have refused in the spec.
    InvalidSpec(Vec<String>),
}

/// Everything the trip found that a condition is decided from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub refusal: Option<Refusal>,
    /// None: no sync step ran (a refused pair).
    pub sync: Option<SyncFindings>,
    /// The repository's URL, credentials removed ("" when none).
    pub source_url: String,
    /// Why the promotion machine waits; None: it did not run.
    pub blocked: Option<Vec<Block>>,
    /// An automatic failover that is due but held, and why.
    pub failover_hold: Option<(FailoverHold, String)>,
}

/// The status to write and the Events its condition changes are worth.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub status: SiteHAPairStatus,
    pub events: Vec<crate::plan::event::PlannedEvent>,
}

/// What a condition function says: a verdict, keep the one written last
/// (not judged this trip), or no such condition at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged<R> {
    Is(Verdict<R>),
    Keep,
    Absent,
}

/// The condition types this version writes, in the order written.
const OURS: [&str; 12] = [
    types::READY,
    types::DEGRADED,
    types::PROMOTING,
    types::PROMOTION_BLOCKED,
    types::SOURCE_READY,
    types::SOURCE_VERIFIED,
    types::IN_SYNC,
    types::HEALTHY,
    types::PARITY,
    types::HOOKS_SUCCEEDED,
    types::PREREQUISITES,
    types::HELD,
];

/// Compose the status from the data the steps left in `data` and the
/// trip's findings; `previous` are the conditions the last trip wrote.
pub fn compose(
    previous: &[Condition],
    spec: &SiteHAPairSpec,
    data: &SiteHAPairStatus,
    f: &Findings,
    generation: i64,
    now: Timestamp,
) -> Composed {
    let degraded = degraded(data, f);
    let (ready, phase) = ready(spec, data, f, &degraded);
    let blocked = promotion_blocked(data, f);
    let source = source_ready(spec, data, f);
    let in_sync = in_sync(previous, f);
    let parity = parity(f);
    let prerequisites = prerequisites(spec, data, f);
    let as_is = |v: Verdict<&'static str>| Judged::Is(v);
    let judged: [Judged<&'static str>; 12] = [
        as_is(Verdict::new(
            ready.status,
            ready.reason.as_str(),
            ready.message,
        )),
        as_is(Verdict::new(
            degraded.status,
            degraded.reason.as_str(),
            degraded.message.clone(),
        )),
        map(&promoting(spec, data, f), |r| r.as_str()),
        map(&blocked, |r| r.as_str()),
        as_is(Verdict::new(
            source.status,
            source.reason.as_str(),
            source.message.clone(),
        )),
        map(&source_verified(spec, f), |r| r.as_str()),
        map(&in_sync, |r| r.as_str()),
        map(&healthy(f), |r| r.as_str()),
        map(&parity, |r| r.as_str()),
        map(&hooks_succeeded(&data.hooks), |r| r.as_str()),
        map(&prerequisites, |r| r.as_str()),
        map(&held(spec, data), |r| r.as_str()),
    ];
    let stamp = stamp(now);
    let mut conditions: Vec<Condition> = OURS
        .iter()
        .zip(judged)
        .filter_map(|(type_, j)| condition(previous, type_, j, generation, &stamp))
        .collect();
    // Conditions of types this version does not write are left as found.
    let theirs = data
        .conditions
        .iter()
        .filter(|c| !OURS.contains(&c.type_.as_str()));
    conditions.extend(theirs.cloned());
    let verdicts = events::Verdicts {
        degraded: &degraded,
        blocked: &blocked,
        source: &source,
        in_sync: &in_sync,
        parity: &parity,
        prerequisites: &prerequisites,
    };
    let events = events::transitions(previous, &verdicts);
    let mut status = data.clone();
    status.conditions = conditions;
    status.phase = Some(phase);
    Composed { status, events }
}

/// One condition as written: its transition time kept from the last trip
/// when its status did not change; a kept one is the last one, at this
/// generation.
fn condition(
    previous: &[Condition],
    type_: &str,
    judged: Judged<&'static str>,
    generation: i64,
    now: &str,
) -> Option<Condition> {
    let last = find(previous, type_);
    let (status, reason, message) = match judged {
        Judged::Is(v) => (v.status, v.reason.to_string(), v.message),
        Judged::Keep => {
            let c = last?;
            (c.status, c.reason.clone(), c.message.clone())
        }
        Judged::Absent => return None,
    };
    let since = last
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone());
    Some(Condition {
        type_: type_.to_string(),
        status,
        reason,
        message,
        last_transition_time: since.unwrap_or_else(|| now.to_string()),
        observed_generation: generation,
    })
}

fn map<R, S>(j: &Judged<R>, f: impl Fn(&R) -> S) -> Judged<S> {
    match j {
        Judged::Is(v) => Judged::Is(Verdict::new(v.status, f(&v.reason), v.message.clone())),
        Judged::Keep => Judged::Keep,
        Judged::Absent => Judged::Absent,
    }
}

/// The phase a pair in `Phase::Promoting` shows while it waits for a
/// silent old active.
pub(crate) fn phase_of(p: &crate::api::PromotionStatus) -> Phase {
    if p.phase == crate::api::PromotionPhase::WaitingForOldActive {
        Phase::WaitingForOldActive
    } else {
        Phase::Promoting
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
