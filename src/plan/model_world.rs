//! The simulated world of the model-based failover test: sites that
//! misbehave on command, an API server that keeps every status version and
//! refuses writes planned on a stale one, a traffic pointer, a clock, and
//! one operator trip that drives the real plan code (plan_status,
//! observations, plan_promotion, fold_promotion) the way the shell does.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{SiteContact, SiteHAPairSpec, SiteHAPairStatus, SiteMode, TrafficFailover};
use crate::plan::failover::FailoverDecision;
use crate::plan::promotion_input::PairAsks;

use crate::plan::spec_check::check_spec;
use crate::plan::status_start::start_status;
use crate::plan::sync_status::{SiteReport, SourceReport, SyncReport, fold_sync};

/// How a site behaves during one step of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Up,
    /// Connection refused: nothing reaches it.
    NoAnswer,
    /// 401 on every call. A 403 is the same fault: the sites' transport
    /// maps both to `SiteContact::CredentialsRefused` (`SiteError::contact`),
    /// and nothing in the shell or the plan tells them apart.
    Refused,
    /// Someone fenced it at a newer epoch (it is passive there); it
    /// answers normally, with 409 to older epochs.
    FencedElsewhere,
    /// 500 on every call.
    Failing,
    /// Calls take effect but the answer is lost (a timeout to the operator).
    Slow,
    /// Answers `GET`s, but a `PUT /mode` fails with 500 and changes nothing.
    PutFailing,
    /// Answers `GET`s; a `PUT /mode` takes effect but its answer is lost.
    PutLost,
    /// Answers `GET`s; a `PUT /mode` lands late: it takes effect at the end
    /// of the trip, after the trip's later steps (but before the next trip
    /// starts: a deposed leader's write lands before its renew deadline,
    /// and a new leader acts only after the Lease runs out), and its
    /// answer is lost.
    PutLate,
    /// The admin API answers every call; the health check hangs (a slow
    /// health path, or a load balancer in front of it that is down).
    HealthHangs,
    /// The health check answers 200; the admin API never answers.
    AdminSilent,
    /// The site turns itself active at its own epoch (someone's script, a
    /// restore from backup) and answers every call.
    TurnsActive,
}

impl Fault {
    /// The admin API gives some answer (even an error): the site is
    /// alive, and an operator must never run a promotion over it.
    pub fn speaks(self) -> bool {
        !matches!(self, Fault::NoAnswer | Fault::Slow | Fault::AdminSilent)
    }

    /// A `PUT /mode` takes effect at the site.
    fn applies_writes(self) -> bool {
        matches!(
            self,
            Fault::Up
                | Fault::FencedElsewhere
                | Fault::Slow
                | Fault::PutLost
                | Fault::HealthHangs
                | Fault::TurnsActive
        )
    }
}

#[derive(Debug, Clone)]
pub struct SimSite {
    pub name: String,
    pub active: bool,
    pub epoch: i64,
    pub fault: Fault,
    /// Active by its own doing (`TurnsActive`), not the operator's.
    pub rogue: bool,
    /// Made active by a pair whose status was lost since (re-created), and
    /// not written by the operator after: its epoch is unknown to the pair.
    pub stamped_before_recreate: bool,
}

/// Where in a trip the operator process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    Never,
    /// Before the n-th step of the trip (after its status write, when the
    /// step is recorded first).
    BeforeStep(u8),
    /// After the n-th step, before anything else.
    AfterStep(u8),
}

/// How a trip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripEnd {
    Completed,
    Crashed,
    /// Lost every write to a newer status (re-reads exhausted).
    Conflicted,
}

pub struct World {
    pub sites: Vec<SimSite>,
    pub target: String,
    pub generation: i64,
    pub policy: TrafficFailover,
    pub contact_timeout: Duration,
    pub now: Timestamp,
    /// Every status the API server held, oldest first (index = version).
    pub versions: Vec<SiteHAPairStatus>,
    /// When each version was written.
    pub written_at: Vec<Timestamp>,
    /// The sites silent to the trip that wrote each version.
    pub silent_at: Vec<Vec<String>>,
    /// Where the traffic objects point.
    pub traffic: Option<String>,
    /// When each site last gave the operator an answer that a surviving
    /// trip could act on: (site, time).
    pub answers: Vec<(String, Timestamp)>,
    /// The status the operator process last wrote or read fresh (None: a
    /// new process, which can vouch for nothing).
    pub known: Option<SiteHAPairStatus>,
    /// Broken promises seen while acting (checked after every step).
    pub violations: Vec<String>,
    /// The versions that are a re-created pair's empty status.
    pub recreated: Vec<usize>,
    /// A deny window over promotions is open (spec.windows).
    pub window_closed: bool,
    /// spec.promotion.notBefore.
    pub not_before: Option<Timestamp>,
    /// spec.promotion.rehearse: the site and the request's id.
    pub rehearse: Option<(String, u32)>,
    /// spec.promotion.verify is set (a failed verification reverts).
    pub verify: bool,
    /// The verification-revert annotation the last revert wrote.
    pub revert_note: Option<String>,
    /// A person acknowledges the hold in the coming trip.
    pub ack: bool,
    /// spec.promotion.automatic.enabled (minInterval 1m).
    pub automatic: bool,
    /// The annotation the last automatic failover wrote.
    pub failover_note: Option<String>,
    /// `PUT /mode`s sent to a `PutLate` site this trip: (site, active, epoch).
    pub late: Vec<(String, bool, i64)>,
    /// How far the clock of the replica running the coming trip is from
    /// the world's (within ±`MAX_OFFSET`).
    pub offset: jiff::SignedDuration,
}

/// The most a replica's clock is off the world's, either way: two
/// replicas differ by at most twice that, [`SKEW`].
pub const MAX_OFFSET: jiff::SignedDuration = jiff::SignedDuration::from_secs(2);

/// The most two replicas' clocks differ: 4 s, under the 5 s the Lease
/// leaves between a deposed leader's last write (its renew deadline, 10 s
/// after its last renewal) and a new leader's first (the Lease's 15 s
/// duration; docs/concepts.md, Leadership timing), so the Lease still
/// keeps two leaders apart. A silence measured across two replicas may be
/// this much shorter than the world's clock says.
pub const SKEW: Duration = Duration::from_secs(4);

impl World {
    /// The clock of the replica running this trip: what every plan
    /// function is given as `now` (the world keeps its own for when
    /// things happen).
    pub fn clock(&self) -> Timestamp {
        self.now.checked_add(self.offset).expect("time")
    }

    pub fn new(n: usize, policy: TrafficFailover) -> Self {
        let sites = (0..n)
            .map(|i| SimSite {
                name: format!("s{i}"),
                active: false,
                epoch: 0,
                fault: Fault::Up,
                rogue: false,
                stamped_before_recreate: false,
            })
            .collect();
        Self {
            sites,
            target: "s0".into(),
            generation: 1,
            policy,
            contact_timeout: Duration::from_secs(60),
            now: "2026-01-01T00:00:00Z".parse().expect("time"),
            versions: vec![SiteHAPairStatus::default()],
            written_at: vec!["2026-01-01T00:00:00Z".parse().expect("time")],
            silent_at: vec![Vec::new()],
            traffic: None,
            answers: Vec::new(),
            known: None,
            violations: Vec::new(),
            recreated: Vec::new(),
            window_closed: false,
            not_before: None,
            rehearse: None,
            verify: false,
            revert_note: None,
            ack: false,
            automatic: false,
            failover_note: None,
            late: Vec::new(),
            offset: jiff::SignedDuration::ZERO,
        }
    }

    /// Does a planned promotion have to wait now (its window, its time)?
    pub fn start_held(&self) -> bool {
        let ahead = self.now.checked_add(MAX_OFFSET).expect("time");
        self.window_closed || self.not_before.is_some_and(|t| t > ahead)
    }

    pub fn latest(&self) -> &SiteHAPairStatus {
        self.versions.last().expect("a version")
    }

    pub fn spec(&self) -> SiteHAPairSpec {
        let sites: Vec<serde_json::Value> = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| {
                serde_json::json!({
                    "name": s.name,
                    "adminUrl": format!("https://{}.example", s.name),
                    "credentialsSecretRef": {"name": s.name},
                    "trafficAddresses": [format!("192.0.2.{}", i + 1)],
                })
            })
            .collect();
        let mut spec: SiteHAPairSpec = serde_json::from_value(serde_json::json!({
            "activeSite": self.target,
            "sites": sites,
            "promotion": {"contactTimeout": format!("{}s", self.contact_timeout.as_secs())},
        }))
        .expect("spec");
        spec.traffic.failover = self.policy;
        spec.promotion.automatic.enabled = self.automatic;
        spec.promotion.automatic.min_interval = "1m".into();
        if self.window_closed {
            // Open every minute of every day: planned promotions never start.
            spec.windows = vec![crate::api::ChangeWindow {
                kind: crate::api::WindowKind::Deny,
                schedule: "0 0 * * *".into(),
                duration: "24h".into(),
                time_zone: "UTC".into(),
                applies_to: vec![crate::api::WindowAction::Promotion],
                hold_failover: false,
            }];
        }
        spec.promotion.not_before = self.not_before.map(crate::plan::time::stamp);
        spec.promotion.rehearse =
            self.rehearse
                .as_ref()
                .map(|(site, id)| crate::api::RehearsalRequest {
                    site: site.clone(),
                    id: id.to_string(),
                });
        if self.verify {
            spec.promotion.verify = Some(crate::api::PromotionVerify {
                period: "30s".into(),
                successes: 2,
                interval: "5s".into(),
                probes: Vec::new(),
                revert: true,
            });
        }
        spec
    }

    /// Give a site its fault for the coming step; a fence elsewhere moves
    /// its epoch up and makes it passive, as another fencer would.
    pub fn set_fault(&mut self, i: usize, fault: Fault, bump: i64) {
        let s = &mut self.sites[i];
        if fault == Fault::FencedElsewhere && s.fault != Fault::FencedElsewhere {
            s.epoch += bump.max(1);
            s.active = false;
        }
        if fault == Fault::TurnsActive && !s.active {
            s.active = true;
            s.rogue = true;
        }
        s.fault = fault;
    }

    /// The pair is deleted and applied again (a new generation, no status)
    /// while the sites keep their roles and epochs; the process knows
    /// nothing of it.
    pub fn recreate(&mut self) {
        self.versions.push(SiteHAPairStatus::default());
        self.written_at.push(self.now);
        self.silent_at.push(Vec::new());
        self.recreated.push(self.versions.len() - 1);
        for s in &mut self.sites {
            s.stamped_before_recreate = s.active;
        }
        self.known = None;
        self.generation = 1;
    }

    /// What `GET /health` + `GET /mode` show the operator.
    fn observe(&self, s: &SimSite) -> SiteReport {
        let mut r = SiteReport {
            name: s.name.clone(),
            ..SiteReport::default()
        };
        let contact = match s.fault {
            Fault::Up
            | Fault::FencedElsewhere
            | Fault::PutFailing
            | Fault::PutLost
            | Fault::PutLate
            | Fault::HealthHangs
            | Fault::TurnsActive => SiteContact::Answered,
            Fault::NoAnswer | Fault::Slow | Fault::AdminSilent => SiteContact::NoAnswer,
            Fault::Refused => SiteContact::CredentialsRefused,
            Fault::Failing => SiteContact::Failing,
        };
        r.contact = contact;
        // The health check is its own call: it never says whether the
        // admin API answers.
        r.healthy = Some(!matches!(
            s.fault,
            Fault::HealthHangs | Fault::NoAnswer | Fault::Slow
        ));
        if contact == SiteContact::Answered {
            r.mode = Some(if s.active {
                SiteMode::Active
            } else {
                SiteMode::Passive
            });
            r.epoch = Some(s.epoch);
        } else {
            r.error = Some(format!("site {}: {}", s.name, contact.as_str()));
        }
        r
    }

    /// `PUT /mode` as the site does it; the report as the shell folds it.
    /// False when the change failed and what the site holds is unknown.
    pub(super) fn set_mode(
        &mut self,
        site: &str,
        active: bool,
        epoch: i64,
        report: &mut SiteReport,
    ) -> bool {
        if self
            .sites
            .iter()
            .any(|s| s.name == site && s.fault == Fault::PutLate)
        {
            // Lands at the end of the trip; no answer is seen.
            self.late.push((site.to_string(), active, epoch));
            report.contact = SiteContact::NoAnswer;
            report.mode = None;
            report.error = Some(format!("site {site}: PUT /mode: timed out"));
            return false;
        }
        let Some((s, fenced)) = self.apply_mode(site, active, epoch, false) else {
            return false;
        };
        let failed = match s.fault {
            // A 409 is followed by a GET /mode: the newer epoch is seen.
            Fault::Up | Fault::FencedElsewhere | Fault::HealthHangs | Fault::TurnsActive => false,
            Fault::PutFailing => {
                if fenced {
                    false
                } else {
                    report.contact = SiteContact::Failing;
                    report.mode = None;
                    report.error = Some(format!("site {}: PUT /mode: HTTP 500", s.name));
                    return false;
                }
            }
            Fault::PutLost => {
                report.contact = SiteContact::NoAnswer;
                report.mode = None;
                report.error = Some(format!("site {}: PUT /mode: timed out", s.name));
                return false;
            }
            _ => true,
        };
        *report = self.observe(&s);
        !failed
    }

    /// A `PUT /mode` taking effect at the site (when its fault lets
    /// writes through, or `late`: a write that lands now) unless the site
    /// holds a newer epoch; the site after it, and whether it was fenced.
    fn apply_mode(
        &mut self,
        site: &str,
        active: bool,
        epoch: i64,
        late: bool,
    ) -> Option<(SimSite, bool)> {
        let s = self.sites.iter_mut().find(|s| s.name == site)?;
        let applies = late || s.fault.applies_writes();
        let fenced = epoch < s.epoch;
        let activates = applies && !fenced && active && !s.active;
        if applies && !fenced {
            s.active = active;
            s.epoch = epoch;
            s.rogue = false;
            s.stamped_before_recreate = false;
        }
        let s = s.clone();
        // Never make a site active while another site that speaks (any
        // answer, even an error) is active, whatever their epochs.
        if activates
            && let Some(other) = self
                .sites
                .iter()
                .find(|o| o.name != site && o.active && o.fault.speaks())
        {
            self.violations.push(format!(
                "{site} made active at {epoch} while {} ({:?}, it speaks) is active at {}",
                other.name, other.fault, other.epoch
            ));
        }
        Some((s, fenced))
    }

    /// The `PUT /mode`s that landed late: they take effect now, after
    /// the trip's later steps and before the next trip (the Lease bounds
    /// a deposed leader's writes), with no answer seen.
    fn land_late_writes(&mut self) {
        for (site, active, epoch) in std::mem::take(&mut self.late) {
            let _ = self.apply_mode(&site, active, epoch, true);
        }
    }

    /// Write `status` if the API server still holds `version`.
    pub(super) fn write(&mut self, version: usize, status: &SiteHAPairStatus) -> Option<usize> {
        if version + 1 != self.versions.len() {
            return None;
        }
        self.versions.push(status.clone());
        self.known = Some(status.clone());
        self.written_at.push(self.now);
        let silent = self
            .sites
            .iter()
            .filter(|s| !s.fault.speaks())
            .map(|s| s.name.clone())
            .collect();
        self.silent_at.push(silent);
        Some(self.versions.len() - 1)
    }

    /// One reconcile by the leader. The cache gives a status `stale`
    /// versions old (the shell's watch cache lagging); as the shell does, a
    /// copy the process cannot vouch for (not the status it last wrote or
    /// read fresh) is read again fresh before anything is planned.
    pub fn trip(&mut self, stale: usize, crash: Crash) -> TripEnd {
        let mut read = self.versions.len().saturating_sub(1 + stale);
        if self.known.as_ref() != Some(&self.versions[read]) {
            read = self.versions.len() - 1;
            self.known = Some(self.versions[read].clone());
        }
        let reports: Vec<SiteReport> = self.sites.iter().map(|s| self.observe(s)).collect();
        let heard: Vec<String> = reports
            .iter()
            .filter(|r| r.contact.answered())
            .map(|r| r.name.clone())
            .collect();
        // A conflict re-reads fresh and plans again with the same observations.
        let mut end = TripEnd::Conflicted;
        for _ in 0..3 {
            match self.plan_and_act(read, reports.clone(), crash, &heard) {
                Err(()) => {
                    read = self.versions.len() - 1;
                    self.known = Some(self.versions[read].clone());
                }
                Ok(e) => {
                    end = e;
                    break;
                }
            }
        }
        self.land_late_writes();
        end
    }

    pub(super) fn commit_answers(&mut self, heard: &[String]) {
        for h in heard {
            self.answers.push((h.clone(), self.now));
        }
    }

    /// Err on a write conflict.
    fn plan_and_act(
        &mut self,
        read: usize,
        mut reports: Vec<SiteReport>,
        crash: Crash,
        heard: &[String],
    ) -> Result<TripEnd, ()> {
        let spec = self.spec();
        let old = self.versions[read].clone();
        let old_ref = (old != SiteHAPairStatus::default()).then_some(&old);
        let mut status = start_status(&spec, self.generation, old_ref, None).status;
        // The sites' rows from what this trip saw, as the shell folds its
        // sync report before the promotion (no source: nothing synced).
        let report = SyncReport {
            source: SourceReport::Skipped,
            sites: reports.clone(),
            gate: None,
        };
        fold_sync(&mut status, report, false, self.clock());
        // The machine's input as the shell builds it, from the pair as
        // the model writes it (a revert is believed while the status read
        // is held, as the shell believes its annotation).
        let check = check_spec(&spec);
        let held = old.hold.is_some();
        let asks = PairAsks::of_spec(&spec, &check).with_revert(held, self.revert_note.as_deref());
        let version =
            match self.promotion_steps(read, &mut status, &mut reports, &asks, crash, heard)? {
                Some(v) => v,
                None => return Ok(TripEnd::Crashed),
            };
        let mut version = version;
        // A rehearsal, as the shell runs it after the promotion step.
        version = self.rehearse(&spec, &asks, &old, &mut status, &reports, version)?;
        let before = old.history.last().map(|r| r.epoch);
        let revert = self.verify_step(&mut status, &check, before);
        // The automatic failover's decision over the status as recorded
        // (none when a revert is due), as the shell's finish.
        let decision = match revert {
            Some(_) => FailoverDecision::Stay,
            None => self.decide_failover(&spec, &status, &check),
        };
        if status != self.versions[version] {
            version = self.write(version, &status).ok_or(())?;
        }
        // The trip survived to act on what it heard; traffic follows the
        // status it planned from a current copy.
        self.commit_answers(heard);
        self.traffic = status.traffic_site.clone();
        // The revert's spec change after the status it was decided on.
        if let Some(r) = revert {
            self.revert_note = Some(format!("{}: {}", r.to, r.why));
            self.target = r.to;
            self.generation += 1;
        } else if let FailoverDecision::Promote { to, why } = decision {
            self.patch_failover(version, to, why);
        }
        Ok(TripEnd::Completed)
    }
}
