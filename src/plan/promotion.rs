//! The promotion state machine, pure. From the spec's wish, the status the
//! last trip left, what the sites answered and the time, decide the next
//! promotion state (written to status before anything is done), the one
//! external step to take, and where traffic points. No I/O, no clock.
//!
//! Outside a promotion it keeps the pair fenced: only status.activeSite may
//! be active, at status.epoch, and a pair with no recorded epoch activates
//! nobody until every site has answered or the contact window has run out.
//! The phases themselves live in `promotion_phases`.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{PromotionPhase, PromotionRecord, PromotionStatus, SiteContact, TrafficFailover};

pub use super::promotion_phases::preflight;

/// How many finished promotions status.history keeps.
pub const HISTORY: usize = 10;

/// Why status.promotion was opened without a spec change: the pair has no
/// recorded epoch and waits for its sites before activating one.
pub const REASON_INITIAL: &str = "Initial";

/// One site as observed this trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteObs {
    pub name: String,
    /// How the site answered; only `NoAnswer` is silence.
    pub contact: SiteContact,
    /// What `GET /mode` said (None: it was not answered this trip).
    pub mode: Option<ModeSeen>,
    pub healthy: bool,
    /// The revision it holds in full (status.sites[].syncedRevision).
    pub synced_revision: Option<String>,
    /// Services differ from the revision.
    pub drifting: bool,
    /// What went wrong talking to it, already trimmed (for status text).
    pub message: Option<String>,
    /// Product version and token key fingerprint it last reported.
    pub version: Option<String>,
    pub token_key: Option<String>,
    /// When its services last changed (status.sites[].lastSyncTime).
    pub last_change: Option<Timestamp>,
    /// Still joining the pair: not a promotion target.
    pub joining: bool,
    /// The epoch status last recorded for it (what a force-past names).
    pub last_epoch: Option<i64>,
}

/// A site's answer to `GET /mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeSeen {
    pub active: bool,
    pub epoch: i64,
}

impl SiteObs {
    /// The site told its mode this trip.
    pub fn knows_mode(&self) -> bool {
        self.mode.is_some()
    }
    /// Reports active this trip.
    pub fn reports_active(&self) -> bool {
        self.mode.is_some_and(|m| m.active)
    }
    /// The epoch it reported this trip (0 when it did not answer).
    pub fn epoch(&self) -> i64 {
        self.mode.map_or(0, |m| m.epoch)
    }
}

/// What the machine needs to decide.
#[derive(Debug, Clone)]
pub struct PromotionInput<'a> {
    /// spec.activeSite.
    pub target: &'a str,
    /// status.activeSite.
    pub current: Option<&'a str>,
    /// status.epoch.
    pub epoch: i64,
    /// status.promotion.
    pub running: Option<&'a PromotionStatus>,
    /// status.trafficSite: where traffic points now.
    pub traffic: Option<&'a str>,
    pub sites: &'a [SiteObs],
    /// The source revision the sites should hold (None: no source).
    pub source_revision: Option<&'a str>,
    pub require_in_sync: bool,
    pub require_healthy: bool,
    pub contact_timeout: Duration,
    pub traffic_failover: TrafficFailover,
    /// Manual or Automatic: why spec.activeSite changed.
    pub reason: &'a str,
    /// The site named by the allow-parity-mismatch annotation: a promotion
    /// to it goes on although its version or token key differs.
    pub allow_parity_mismatch: Option<&'a str>,
    /// spec.promotion.settlingTime: planned promotions wait this long after
    /// the target's last change.
    pub settling: Duration,
    /// A person's word that a site which answers but cannot be demoted is
    /// broken: the promotion goes on past it (annotation force-past).
    pub force_past: Option<ForcePast<'a>>,
    /// What about the rest of the pair preflight warns of (not blocking).
    pub warnings: &'a [String],
    /// Where a standby-first change of the active site holds traffic
    /// (status.activeChange): traffic stays there until the change moves
    /// it back or a promotion switches it to a new active site.
    pub shifted: Option<&'a str>,
    pub now: Timestamp,
}

/// The annotation sitehapair.io/force-past, read: pass `site` over while
/// it stands at `epoch` (as status.sites shows it), as `by` asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcePast<'a> {
    pub site: &'a str,
    pub epoch: i64,
    pub by: &'a str,
}

impl<'a> ForcePast<'a> {
    /// `<site>@<epoch>`; None when it is not that shape.
    pub fn parse(value: &'a str, by: &'a str) -> Option<Self> {
        let (site, epoch) = value.trim().rsplit_once('@')?;
        let epoch = epoch.trim().parse().ok()?;
        (!site.is_empty()).then_some(ForcePast { site, epoch, by })
    }

    /// Does it name `s` at the epoch `s` stands at?
    pub fn names(&self, s: &SiteObs) -> bool {
        let epoch = s.mode.map(|m| m.epoch).or(s.last_epoch).unwrap_or(0);
        s.name == self.site && epoch == self.epoch
    }
}

/// The one external step to take next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `PUT /mode` on a site.
    SetMode {
        site: String,
        active: bool,
        epoch: i64,
    },
    /// Point traffic at the decision's traffic site.
    SwitchTraffic,
}

/// What an operator of the cluster should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// Why a promotion (or the first activation) cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReason {
    /// A preflight check on the target failed.
    PreflightFailed,
    /// A site refused the operator's credentials (401/403).
    CredentialsRefused,
    /// A site answers with errors (5xx, undecodable answers).
    SiteFailing,
    /// A site's Secret or adminUrl cannot be used.
    SiteMisconfigured,
    /// The target's version or token key differs from the active's.
    ParityMismatch,
    /// status.promotion.phase is not one this version knows.
    UnknownPhase,
}

impl BlockReason {
    /// The PromotionBlocked condition's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::PreflightFailed => "PreflightFailed",
            BlockReason::CredentialsRefused => "CredentialsRefused",
            BlockReason::SiteFailing => "SiteFailing",
            BlockReason::SiteMisconfigured => "SiteMisconfigured",
            BlockReason::ParityMismatch => "ParityMismatch",
            BlockReason::UnknownPhase => "UnknownPhase",
        }
    }

    /// The block a site that answered with an error puts on the machine.
    pub fn of_contact(contact: SiteContact) -> Option<Self> {
        match contact {
            SiteContact::CredentialsRefused => Some(BlockReason::CredentialsRefused),
            SiteContact::Failing | SiteContact::Fenced => Some(BlockReason::SiteFailing),
            SiteContact::Misconfigured => Some(BlockReason::SiteMisconfigured),
            SiteContact::Answered | SiteContact::NoAnswer => None,
        }
    }
}

/// One named reason the machine waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub reason: BlockReason,
    pub message: String,
}

/// The decision of one trip.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionDecision {
    /// status.activeSite after this decision.
    pub active_site: Option<String>,
    /// status.epoch after this decision.
    pub epoch: i64,
    /// status.promotion after this decision (None: no promotion running).
    pub running: Option<PromotionStatus>,
    /// A finished promotion to append to status.history.
    pub finished: Option<PromotionRecord>,
    /// Why the machine waits, each named (empty: not blocked).
    pub blocked: Vec<Block>,
    /// status.trafficSite after this decision.
    pub traffic_site: Option<String>,
    pub step: Option<Step>,
    pub notices: Vec<Notice>,
}

pub(super) fn find<'a>(sites: &'a [SiteObs], name: &str) -> Option<&'a SiteObs> {
    sites.iter().find(|s| s.name == name)
}

/// The highest epoch any site reported this trip.
pub(super) fn max_seen(sites: &[SiteObs]) -> i64 {
    sites.iter().map(SiteObs::epoch).max().unwrap_or(0)
}

/// RFC 3339, whole seconds.
pub fn stamp(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

pub(super) fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Decide the next promotion state, step and traffic.
pub fn plan_promotion(inp: &PromotionInput<'_>) -> PromotionDecision {
    let mut d = PromotionDecision {
        active_site: inp.current.map(str::to_string),
        epoch: inp.epoch,
        running: inp.running.cloned(),
        finished: None,
        blocked: Vec::new(),
        traffic_site: None,
        step: None,
        notices: Vec::new(),
    };
    match inp.running {
        Some(p) if matches!(p.phase, PromotionPhase::Unknown(_)) => refuse_unknown(p, &mut d),
        Some(p) => super::promotion_phases::advance(inp, p.clone(), &mut d),
        None if inp.current.is_none() => first_sight(inp, &mut d),
        None if inp.current == Some(inp.target) => steady(inp, &mut d),
        None => start(inp, &mut d),
    }
    d.traffic_site = traffic_choice(inp, &d);
    d
}

/// A phase written by another version: touch nothing, say so.
fn refuse_unknown(p: &PromotionStatus, d: &mut PromotionDecision) {
    d.blocked.push(Block {
        reason: BlockReason::UnknownPhase,
        message: format!(
            "status.promotion.phase {:?} is not a phase this operator knows (written by a newer version?); \
             nothing is done until an operator that knows it runs, or status.promotion is removed by hand",
            p.phase.as_str()
        ),
    });
}

/// No epoch is recorded (a new or re-created pair, or lost status). Nobody
/// is made active until every site has told its mode: then a site already
/// active is adopted. Sites that do not tell are waited for through a
/// promotion opened for the purpose, with its contact window; one that
/// speaks without telling blocks it.
pub(super) fn first_sight(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    if inp.sites.iter().all(SiteObs::knows_mode) {
        adopt(inp, d);
        return;
    }
    let p = PromotionStatus {
        from: None,
        to: inp.target.to_string(),
        reason: REASON_INITIAL.to_string(),
        phase: PromotionPhase::WaitingForOldActive,
        epoch: inp.epoch.max(max_seen(inp.sites)) + 1,
        started_at: stamp(inp.now),
        ..PromotionStatus::default()
    };
    super::promotion_phases::advance(inp, p, d);
}

/// Every site told its mode (or the silent ones ran out a whole window):
/// keep the site reporting active at the highest epoch; two at the same
/// highest epoch are settled by spec.activeSite, never by the order of
/// spec.sites. The others are demoted; the pair says which it kept and why.
pub(super) fn adopt(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let actives: Vec<&SiteObs> = inp.sites.iter().filter(|s| s.reports_active()).collect();
    let top = actives.iter().map(|s| s.epoch()).max();
    let at_top: Vec<&str> = actives
        .iter()
        .filter(|s| Some(s.epoch()) == top)
        .map(|s| s.name.as_str())
        .collect();
    let keep = match at_top.as_slice() {
        [one] => one,
        _ => inp.target,
    };
    if actives.len() > 1 {
        let names: Vec<String> = actives
            .iter()
            .map(|s| format!("{} (epoch {})", s.name, s.epoch()))
            .collect();
        let why = if at_top.len() > 1 {
            format!(
                "{} share the highest epoch, so spec.activeSite decides",
                at_top.join(" and ")
            )
        } else {
            "it holds the highest epoch".to_string()
        };
        d.notices.push(Notice {
            warning: true,
            reason: "SplitBrain",
            note: format!(
                "sites {} all report active; keeping {keep} ({why}) and demoting the others",
                names.join(", ")
            ),
        });
    } else if let [one] = actives.as_slice() {
        d.notices.push(Notice {
            warning: false,
            reason: "Adopted",
            note: format!(
                "{keep} reports active at epoch {}: adopted as the active site",
                one.epoch()
            ),
        });
    }
    d.active_site = Some(keep.to_string());
    steady(inp, d);
}

/// No promotion: the active site is active at the epoch, every other site
/// passive. The epoch never stands below one a site already holds.
pub(super) fn steady(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let current = d
        .active_site
        .clone()
        .unwrap_or_else(|| inp.target.to_string());
    d.active_site = Some(current.clone());
    let seen = max_seen(inp.sites);
    if d.epoch < seen || d.epoch == 0 {
        let cur_ok = find(inp.sites, &current)
            .is_some_and(|s| s.reports_active() && s.epoch() == seen && seen > 0);
        let stray = inp
            .sites
            .iter()
            .any(|s| s.reports_active() && s.name != current && s.epoch() >= seen);
        d.epoch = if cur_ok && !stray { seen } else { seen + 1 };
    }
    // A stray active site is demoted first (fencing).
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reports_active() && s.name != current)
    {
        d.notices.push(Notice {
            warning: true,
            reason: "Fenced",
            note: format!(
                "site {} reported active at epoch {} while {current} is the active site at epoch {}; demoting it",
                s.name,
                s.epoch(),
                d.epoch
            ),
        });
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
        return;
    }
    // Then the active site is (re)stamped active at the epoch; made active
    // from passive only while no other site speaks without telling its
    // mode (it may be active; a silent one was settled before: it was
    // passive when last heard, or ran out a whole window).
    let others_known = !inp
        .sites
        .iter()
        .any(|s| s.name != current && !s.knows_mode() && s.contact != SiteContact::NoAnswer);
    if let Some(s) = find(inp.sites, &current)
        && let Some(m) = s.mode
        && (!m.active || m.epoch != d.epoch)
        && (m.active || others_known)
    {
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: true,
            epoch: d.epoch,
        });
        return;
    }
    // Passive sites at an older epoch are stamped with the current one.
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.mode.is_some_and(|m| !m.active && m.epoch < d.epoch) && s.name != current)
    {
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
    }
}

/// spec.activeSite changed: open a promotion at Preflight.
fn start(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let p = PromotionStatus {
        from: inp.current.map(str::to_string),
        to: inp.target.to_string(),
        reason: inp.reason.to_string(),
        phase: PromotionPhase::Preflight,
        epoch: inp.epoch.max(max_seen(inp.sites)) + 1,
        started_at: stamp(inp.now),
        ..PromotionStatus::default()
    };
    if !inp.warnings.is_empty() {
        d.notices.push(Notice {
            warning: true,
            reason: "PreflightWarning",
            note: format!("promotion of {}: {}", p.to, inp.warnings.join("; ")),
        });
    }
    d.notices.push(Notice {
        warning: false,
        reason: "PromotionStarted",
        note: format!(
            "promotion of {} started ({}), from {}",
            p.to,
            p.reason,
            p.from.as_deref().unwrap_or("no active site")
        ),
    });
    super::promotion_phases::advance(inp, p, d);
}

/// Where traffic points after this decision: the active site; with
/// spec.traffic.failover Immediate, the promotion target once the old
/// active has been found silent (and from then on, for that promotion).
fn traffic_choice(inp: &PromotionInput<'_>, d: &PromotionDecision) -> Option<String> {
    if inp.traffic_failover == TrafficFailover::Immediate
        && let Some(p) = &d.running
        && let Some(from) = &p.from
        && *from != p.to
    {
        let silent = find(inp.sites, from).is_some_and(|s| s.contact == SiteContact::NoAnswer);
        let waiting = p.phase == PromotionPhase::WaitingForOldActive;
        // Once moved for this promotion, traffic does not go back to the
        // old active while it is being demoted.
        let moved = inp.traffic == Some(p.to.as_str()) && p.phase != PromotionPhase::Preflight;
        if (waiting && silent) || p.forced || moved {
            return Some(p.to.clone());
        }
    }
    if let Some(standby) = inp.shifted
        && d.active_site.as_deref() == inp.current
    {
        return Some(standby.to_string());
    }
    d.active_site.clone()
}

/// Append a finished promotion, keeping the last [`HISTORY`].
pub fn push_history(history: &mut Vec<PromotionRecord>, rec: PromotionRecord) {
    history.push(rec);
    let extra = history.len().saturating_sub(HISTORY);
    history.drain(..extra);
}

#[cfg(test)]
#[path = "promotion_tests.rs"]
mod tests;
