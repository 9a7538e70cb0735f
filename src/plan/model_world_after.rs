//! The steps of a model trip, as the shell runs them with the real plan
//! code: the promotion machine's (each recorded first when it needs to be),
//! then the rehearsal, the verification (and its revert), and the
//! automatic failover's decision with its guarded spec change. Split from
//! `model_world` to keep each file short.

use crate::api::{SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::promotion_input::PairAsks;
use crate::plan::promotion_status::observations;
use crate::plan::sync_status::SiteReport;

use super::model_world::{Crash, World};
use crate::plan::failover::FailoverDecision;
use crate::plan::promotion::{Step, plan_promotion};
use crate::plan::promotion_commit::record_before;
use crate::plan::promotion_status::fold_promotion;

impl World {
    /// The promotion machine's steps of one trip, each recorded first when
    /// it needs to be (as the shell's `promote`): the version last written
    /// or read, or None when the process died on the way. Err on a write
    /// conflict.
    pub(super) fn promotion_steps(
        &mut self,
        read: usize,
        status: &mut SiteHAPairStatus,
        reports: &mut [SiteReport],
        asks: &PairAsks<'_>,
        crash: Crash,
        heard: &[String],
    ) -> Result<Option<usize>, ()> {
        let mut version = read;
        let (mut writes, mut steps) = (0u8, 0u8);
        for _ in 0..8 {
            let sites = observations(status, reports);
            let d = plan_promotion(&asks.input(status, &sites, self.clock()));
            fold_promotion(status, &d);
            let Some(step) = d.step else { break };
            // As the shell: recorded first only when the step needs it.
            let recorded = Some(&self.versions[version]);
            if record_before(&step, recorded, status) && *status != self.versions[version] {
                version = self.write(version, status).ok_or(())?;
            }
            // What the trip heard is acted on from here, written or not.
            self.commit_answers(heard);
            writes += 1;
            if crash == Crash::BeforeStep(writes) {
                return Ok(None);
            }
            match step {
                Step::SwitchTraffic => self.traffic = status.traffic_site.clone(),
                Step::SetMode {
                    site,
                    active,
                    epoch,
                } => {
                    let done = match reports.iter_mut().find(|r| r.name == site) {
                        Some(r) => self.set_mode(&site, active, epoch, r),
                        None => false,
                    };
                    if !done {
                        // As the shell: a failed change ends the steps of this trip.
                        steps += 1;
                        if crash == Crash::AfterStep(steps) {
                            return Ok(None);
                        }
                        break;
                    }
                }
            }
            steps += 1;
            if crash == Crash::AfterStep(steps) {
                return Ok(None);
            }
        }
        Ok(Some(version))
    }

    /// The rehearsal's part of a trip, with the real plan code: what it
    /// decides, its Running record written first, its steps judged from
    /// what the sites show. It must leave every role, the epoch, traffic,
    /// the promotion and the history as they were, and pass only a target
    /// that is a passive site that answers. Returns the version written.
    pub(super) fn rehearse(
        &mut self,
        spec: &SiteHAPairSpec,
        asks: &PairAsks<'_>,
        start: &SiteHAPairStatus,
        status: &mut SiteHAPairStatus,
        reports: &[SiteReport],
        mut version: usize,
    ) -> Result<usize, ()> {
        use crate::plan::rehearsal::{Due, begin, due, finished_without_running, would_do};
        use crate::plan::rehearsal_judge::{Finding, Timed, conclude};
        let roles = |s: &SiteHAPairStatus| {
            let r = (&s.active_site, s.epoch, &s.traffic_site);
            format!("{r:?} {:?} {:?}", s.promotion, s.history)
        };
        let before = roles(status);
        let req = spec.promotion.rehearse.as_ref();
        match due(req, spec, start, status) {
            Due::Nothing => return Ok(version),
            Due::Finish { result, message } => {
                let rec =
                    finished_without_running(req, None, status, result, message, self.clock());
                status.rehearsal = Some(rec);
            }
            Due::Run => {
                let Some(req) = req else { return Ok(version) };
                let running = begin(req, None, status, self.clock());
                status.rehearsal = Some(running.clone());
                if status != &self.versions[version] {
                    version = self.write(version, status).ok_or(())?;
                }
                let sites = observations(status, reports);
                let mut inp = asks.input(status, &sites, self.clock());
                inp.target = &req.site;
                let fails = crate::plan::promotion::preflight(&inp);
                let r = reports.iter().find(|r| r.name == req.site);
                let timed = |finding| Timed {
                    finding,
                    started_at: self.clock(),
                    milliseconds: 0,
                };
                let role = match r.and_then(|r| Some((r.mode?, r.epoch?))) {
                    Some(m) => Ok(m),
                    None => Err(format!("site {} does not answer", req.site)),
                };
                let steps = [
                    timed(Finding::Preflight(
                        fails.into_iter().map(|b| b.message).collect(),
                    )),
                    timed(Finding::Health(Ok(r.and_then(|r| r.healthy) == Some(true)))),
                    timed(Finding::Role(role)),
                ];
                let plan = would_do(spec, "gis", status, &asks.windows, &req.site, self.clock());
                let (rec, _) = conclude(&running, status, &steps, plan, self.clock());
                let target = self.sites.iter().find(|s| s.name == req.site);
                if rec.result == crate::api::RehearsalResult::Passed
                    && !target.is_some_and(|t| !t.active && t.fault.speaks())
                {
                    self.violations
                        .push(format!("a rehearsal to {} passed: {target:?}", req.site));
                }
                status.rehearsal = Some(rec);
            }
        }
        if roles(status) != before {
            self.violations.push(format!(
                "a rehearsal moved the roles: {before} to {}",
                roles(status)
            ));
        }
        Ok(version)
    }

    /// The verification step as the shell runs it: `apply_verify` (no
    /// probes) over the rows the sync folded from this trip's reports.
    pub(super) fn verify_step(
        &self,
        status: &mut SiteHAPairStatus,
        check: &crate::plan::spec_check::SpecCheck,
        before: Option<i64>,
    ) -> Option<crate::plan::verify::Revert> {
        use crate::plan::verify::{VerifyInput, apply_verify, note_cleaned_up};
        let finished = crate::plan::hooks::completed_now(before, &status.history).cloned();
        let since = status.hold.as_ref().map(|h| h.since.clone());
        let ack = since.as_deref().filter(|_| self.ack);
        let out = apply_verify(
            status,
            &VerifyInput {
                config: check.verify,
                pair: "model",
                finished: finished.as_ref(),
                probes: &[],
                ack: ack.map(|a| (a, "user model")),
                target: &self.target,
                revert_annotation: self.revert_note.as_deref(),
                now: self.clock(),
            },
        );
        note_cleaned_up(status, self.clock());
        out.revert
    }

    /// The shell's `failover::decide`, on the pair as the world holds it.
    pub(super) fn decide_failover(
        &self,
        spec: &SiteHAPairSpec,
        status: &SiteHAPairStatus,
        check: &crate::plan::spec_check::SpecCheck,
    ) -> FailoverDecision {
        let mut obj = crate::api::SiteHAPair::new("model", spec.clone());
        obj.metadata.generation = Some(self.generation);
        crate::plan::failover::decide(&obj, status, &check.times, self.clock())
    }

    /// The failover's change of spec.activeSite, guarded by the
    /// resourceVersion it was decided at (`version`): it lands only when
    /// the API server still holds that status.
    pub(super) fn patch_failover(&mut self, version: usize, to: String, why: String) {
        if version + 1 != self.versions.len() {
            return;
        }
        self.failover_note = Some(format!("{to}: {why}"));
        self.target = to;
        self.generation += 1;
    }
}
