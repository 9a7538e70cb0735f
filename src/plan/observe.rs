//! The pure status plan of one reconcile: from the spec, the generation, the
//! status the last trip left and the time, decide the next status and when
//! to come back. No I/O, no clock.

use std::time::Duration;

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::redact::redact_url;
use crate::api::{Phase, SiteHAPairSpec, SiteHAPairStatus, SiteStatus, duration};

/// What one trip decided.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPlan {
    /// The status to write (written only when it differs from the old one).
    pub status: SiteHAPairStatus,
    /// When to look again.
    pub requeue_after: Duration,
    /// Something an operator of the cluster wants to see as an Event.
    pub events: Vec<PlannedEvent>,
}

/// An Event the shell should publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl PlannedEvent {
    /// Each occurrence carries its own news (which services, which
    /// revision, which hook attempt): it must not be folded into an
    /// earlier Event's series.
    pub fn is_unique(&self) -> bool {
        matches!(
            self.reason,
            "Synced"
                | "Promoted"
                | "TrafficToStandby"
                | "ActiveChanged"
                | "HookSucceeded"
                | "HookFailed"
                | "HookAbandoned"
        )
    }
}

/// Fallback requeue when the spec's interval cannot be read.
const FALLBACK_REQUEUE: Duration = Duration::from_secs(30);

/// Decide the status after observing the resource itself.
///
/// `now` is an RFC 3339 timestamp supplied by the caller.
pub fn plan_status(
    spec: &SiteHAPairSpec,
    generation: i64,
    old: Option<&SiteHAPairStatus>,
    reconcile_requested_at: Option<&str>,
    now: &str,
) -> StatusPlan {
    plan_status_with(spec, generation, old, reconcile_requested_at, now, &[])
}

/// `plan_status`, with `claimed`: sites of this pair another pair manages
/// (see `claims`); the pair is Degraded (`SiteClaimed`) and does nothing.
pub fn plan_status_with(
    spec: &SiteHAPairSpec,
    generation: i64,
    old: Option<&SiteHAPairStatus>,
    reconcile_requested_at: Option<&str>,
    now: &str,
    claimed: &[String],
) -> StatusPlan {
    let mut status = old.cloned().unwrap_or_default();
    let mut events = Vec::new();
    let first_sight = status.active_site.is_none() && status.observed_generation.is_none();
    let spec_changed = status.observed_generation != Some(generation);

    if first_sight {
        // status.activeSite stays empty: the promotion machine decides who is
        // active once the sites have told their modes.
        events.push(PlannedEvent {
            warning: false,
            reason: "Observed",
            action: "Observe",
            note: format!(
                "first sight of the pair: {} sites, {} to be active",
                spec.sites.len(),
                spec.active_site
            ),
        });
    } else if spec_changed {
        events.push(PlannedEvent {
            warning: false,
            reason: "SpecChanged",
            action: "Observe",
            note: format!("observed generation {generation}"),
        });
    }
    status.observed_generation = Some(generation);
    if let Some(at) = reconcile_requested_at {
        status.last_handled_reconcile_at = Some(at.to_string());
    }
    let running = status.active_site.is_some();
    status.sites = site_rows(spec, &status.sites, running);

    // The API server validates durations; an object stored before a CRD
    // upgrade may still hold a bad one, so check again and say which.
    let problems = spec_problems(spec);
    let conds = &mut status.conditions;
    let reason = if claimed.is_empty() {
        "InvalidSpec"
    } else {
        "SiteClaimed"
    };
    let (phase, ready) = if let Some(problem) = claimed.first().or(problems.first()) {
        let msg = format!("{problem}; fix the spec and apply it again");
        let msg = if claimed.len() > 1 {
            format!("{msg} (and {} more sites)", claimed.len() - 1)
        } else {
            msg
        };
        conditions::set_condition(
            conds,
            Condition::new(
                types::DEGRADED,
                ConditionStatus::True,
                reason,
                &msg,
                generation,
                now,
            ),
        );
        (Phase::Degraded, (ConditionStatus::False, reason, msg))
    } else {
        conditions::set_condition(
            conds,
            Condition::new(
                types::DEGRADED,
                ConditionStatus::False,
                "AsExpected",
                "nothing needs attention",
                generation,
                now,
            ),
        );
        let active = status.active_site.clone().unwrap_or_default();
        if active != spec.active_site {
            let msg = if active.is_empty() {
                format!(
                    "no site is active yet; {} is to be activated",
                    spec.active_site
                )
            } else {
                format!("promotion from {active} to {} is pending", spec.active_site)
            };
            conditions::set_condition(
                conds,
                Condition::new(
                    types::PROMOTING,
                    ConditionStatus::True,
                    "Pending",
                    &msg,
                    generation,
                    now,
                ),
            );
            (Phase::Promoting, (ConditionStatus::False, "Promoting", msg))
        } else if spec.sync.suspend {
            conditions::set_condition(
                conds,
                Condition::new(
                    types::PROMOTING,
                    ConditionStatus::False,
                    "Idle",
                    "no promotion is running",
                    generation,
                    now,
                ),
            );
            let msg = "sync is suspended (spec.sync.suspend); promotions still run".to_string();
            (Phase::Suspended, (ConditionStatus::True, "Suspended", msg))
        } else {
            conditions::set_condition(
                conds,
                Condition::new(
                    types::PROMOTING,
                    ConditionStatus::False,
                    "Idle",
                    "no promotion is running",
                    generation,
                    now,
                ),
            );
            let msg = format!("{active} is the active site of {} sites", spec.sites.len());
            (Phase::Ready, (ConditionStatus::True, "Observed", msg))
        }
    };
    let (source_status, source_reason, source_msg) = match &spec.source {
        None => (
            ConditionStatus::True,
            "NoSource",
            "no source is configured; services are not synced".to_string(),
        ),
        Some(src) => match &status.source {
            Some(s) if s.revision.is_some() => (
                ConditionStatus::True,
                "Fetched",
                format!(
                    "revision {} of {}",
                    s.revision.clone().unwrap_or_default(),
                    redact_url(&src.git.url)
                ),
            ),
            _ => (
                ConditionStatus::Unknown,
                "NotFetched",
                format!("{} has not been fetched yet", redact_url(&src.git.url)),
            ),
        },
    };
    conditions::set_condition(
        conds,
        Condition::new(
            types::SOURCE_READY,
            source_status,
            source_reason,
            source_msg,
            generation,
            now,
        ),
    );
    if conditions::find(conds, types::IN_SYNC).is_none() {
        conditions::set_condition(
            conds,
            Condition::new(
                types::IN_SYNC,
                ConditionStatus::Unknown,
                "NotObserved",
                "the sites' services have not been compared yet",
                generation,
                now,
            ),
        );
    } else {
        refresh_generation(conds, types::IN_SYNC, generation);
    }
    conditions::set_condition(
        conds,
        Condition::new(types::READY, ready.0, ready.1, ready.2, generation, now),
    );
    status.phase = Some(phase);

    let requeue_after = duration::parse("spec.healthCheck.interval", &spec.health_check.interval)
        .unwrap_or(FALLBACK_REQUEUE);
    StatusPlan {
        status,
        requeue_after,
        events,
    }
}

/// Keep a condition's content but stamp the generation it now describes.
fn refresh_generation(list: &mut [Condition], type_: &str, generation: i64) {
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        c.observed_generation = generation;
    }
}

/// One status row per spec site, in spec order, keeping what was observed.
/// One row per site of the spec, kept from `old`; a site added to a pair
/// that already runs (`running`) starts as joining.
fn site_rows(spec: &SiteHAPairSpec, old: &[SiteStatus], running: bool) -> Vec<SiteStatus> {
    spec.sites
        .iter()
        .map(|s| {
            old.iter()
                .find(|o| o.name == s.name)
                .cloned()
                .unwrap_or_else(|| SiteStatus {
                    name: s.name.clone(),
                    joining: running.then_some(true),
                    ..SiteStatus::default()
                })
        })
        .collect()
}

/// Everything in the spec the API server should have refused, as messages.
pub fn spec_problems(spec: &SiteHAPairSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut durations = vec![
        (
            "spec.promotion.contactTimeout",
            spec.promotion.contact_timeout.as_str(),
        ),
        (
            "spec.promotion.automatic.minInterval",
            spec.promotion.automatic.min_interval.as_str(),
        ),
        (
            "spec.healthCheck.interval",
            spec.health_check.interval.as_str(),
        ),
        (
            "spec.healthCheck.timeout",
            spec.health_check.timeout.as_str(),
        ),
    ];
    if let Some(src) = &spec.source {
        durations.push(("spec.source.git.interval", src.git.interval.as_str()));
    }
    for (field, value) in durations {
        if let Err(e) = duration::parse(field, value) {
            out.push(e.to_string());
        }
    }
    if !spec.sites.iter().any(|s| s.name == spec.active_site) {
        out.push(format!(
            "spec.activeSite {:?} names none of spec.sites",
            spec.active_site
        ));
    }
    let mut names: Vec<&str> = spec.sites.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!("spec.sites: the name {:?} is used twice", w[0]));
    }
    let mut urls: Vec<String> = spec
        .sites
        .iter()
        .map(|s| crate::plan::claims::normalize(&s.admin_url))
        .collect();
    urls.sort_unstable();
    if let Some(w) = urls.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!("spec.sites: the adminUrl {} is named twice", w[0]));
    }
    out
}
