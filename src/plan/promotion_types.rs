//! The promotion machine's vocabulary, pure: what it sees of each site
//! (`SiteObs`), what it is given (`PromotionInput`), what it decides
//! (`PromotionDecision`, `Step`, `Block`, `Notice`), and the small helpers
//! every part of the machine shares. Imports nothing of the machine.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{PromotionRecord, PromotionStatus, SiteContact, TrafficFailover};

/// How many finished promotions status.history keeps.
pub const HISTORY: usize = 10;

/// Why a promotion runs: a person changed spec.activeSite (Manual), the
/// operator's automatic failover did (Automatic), or the pair has no
/// recorded epoch and waits for its sites before activating one (Initial),
/// or the operator promotes the previous active back after a failed
/// verification (Revert). Status holds it as `as_str()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionReason {
    Manual,
    Automatic,
    Initial,
    Revert,
}

impl PromotionReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            PromotionReason::Manual => "Manual",
            PromotionReason::Automatic => "Automatic",
            PromotionReason::Initial => "Initial",
            PromotionReason::Revert => "Revert",
        }
    }

    /// As status wrote it; anything else was a person's change.
    pub fn of(written: &str) -> Self {
        match written {
            "Automatic" => PromotionReason::Automatic,
            "Initial" => PromotionReason::Initial,
            "Revert" => PromotionReason::Revert,
            _ => PromotionReason::Manual,
        }
    }
}

/// The reason of a promotion opened without a spec change, as written.
pub const REASON_INITIAL: &str = PromotionReason::Initial.as_str();

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
    pub reason: PromotionReason,
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
    /// Why a promotion to spec.activeSite may not start yet (its time, its
    /// change window), if so.
    pub start_wait: Option<StartWait>,
    /// Who let this promotion through a closed window (the override
    /// annotation named its target), if anyone.
    pub window_override_by: Option<&'a str>,
    /// Who asked for the promotion to spec.activeSite, as far as known.
    pub requested_by: Option<&'a str>,
    /// Why, as the person said.
    pub why: Option<&'a str>,
    pub now: Timestamp,
}

/// Why a promotion may not start yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartWait {
    /// Scheduled or OutsideWindow.
    pub reason: BlockReason,
    /// When it may start (None: no opening in sight).
    pub until: Option<Timestamp>,
    pub message: String,
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
    /// A site accepted writes its public API does not serve.
    SiteNotServing,
    /// The target's version or token key differs from the active's.
    ParityMismatch,
    /// status.promotion.phase is not one this version knows.
    UnknownPhase,
    /// A planned promotion waits for spec.promotion.notBefore.
    Scheduled,
    /// A scheduled promotion due within the hour whose preflight would
    /// fail now.
    ScheduledPreflightFailing,
    /// A planned promotion (or a failover a window holds) waits for its
    /// change window.
    OutsideWindow,
}

impl BlockReason {
    /// The PromotionBlocked condition's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::PreflightFailed => "PreflightFailed",
            BlockReason::CredentialsRefused => "CredentialsRefused",
            BlockReason::SiteFailing => "SiteFailing",
            BlockReason::SiteMisconfigured => "SiteMisconfigured",
            BlockReason::SiteNotServing => "SiteNotServing",
            BlockReason::ParityMismatch => "ParityMismatch",
            BlockReason::UnknownPhase => "UnknownPhase",
            BlockReason::Scheduled => "Scheduled",
            BlockReason::ScheduledPreflightFailing => "ScheduledPreflightFailing",
            BlockReason::OutsideWindow => "OutsideWindow",
        }
    }

    /// The block a site that answered with an error puts on the machine.
    pub fn of_contact(contact: SiteContact) -> Option<Self> {
        match contact {
            SiteContact::CredentialsRefused => Some(BlockReason::CredentialsRefused),
            SiteContact::Failing | SiteContact::Fenced => Some(BlockReason::SiteFailing),
            SiteContact::Misconfigured => Some(BlockReason::SiteMisconfigured),
            SiteContact::NotServing => Some(BlockReason::SiteNotServing),
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

pub(crate) fn find<'a>(sites: &'a [SiteObs], name: &str) -> Option<&'a SiteObs> {
    sites.iter().find(|s| s.name == name)
}

/// The highest epoch any site reported this trip.
pub(crate) fn max_seen(sites: &[SiteObs]) -> i64 {
    sites.iter().map(SiteObs::epoch).max().unwrap_or(0)
}

/// RFC 3339, whole seconds (the core's one formatter).
pub fn stamp(t: Timestamp) -> String {
    crate::plan::time::stamp(t)
}

pub(crate) fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Append a finished promotion, keeping the last [`HISTORY`].
pub fn push_history(history: &mut Vec<PromotionRecord>, rec: PromotionRecord) {
    history.push(rec);
    let extra = history.len().saturating_sub(HISTORY);
    history.drain(..extra);
}
