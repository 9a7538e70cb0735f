//! Per-pair and per-site metrics: set from the status each trip planned
//! (`observe_pair`), counted from what one status write changed
//! (`observe_transition`), and removed when the pair goes away
//! (`forget_pair`). Labels are `namespace`, `pair` and, per site, `site`
//! (at most 8 sites a pair), so the series stay bounded by the pairs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::conditions::{self, ConditionStatus, types};
use crate::api::{PromotionPhase, SiteHAPairStatus, SiteHealth, SiteMode};
use crate::plan::monitoring::{PromotionKind, ended_steps, finished_promotions, stopped_waiting};

/// A pair.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PairLabels {
    pub namespace: String,
    pub pair: String,
}

/// One site of a pair.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabels {
    pub namespace: String,
    pub pair: String,
    pub site: String,
}

/// A promotion step (across pairs: one series per step).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: String,
}

/// A promotion phase of a pair.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: String,
    pub pair: String,
    pub phase: String,
}

/// A kind of finished promotion of a pair.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub namespace: String,
    pub pair: String,
    pub kind: String,
}

/// A result of a finished rehearsal of a pair.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub namespace: String,
    pub pair: String,
    pub result: String,
}

/// Every value of the promotion_phase label: `None` when no promotion
/// runs, `Unknown` for a phase this version does not know.
pub const PHASES: [&str; 8] = [
    "None",
    "Preflight",
    "Demoting",
    "WaitingForOldActive",
    "Promoting",
    "SwitchingTraffic",
    "Complete",
    "Unknown",
];

/// Buckets of the wait for a silent old active, in seconds: from a short
/// outage to past the default contact window (30 minutes).
const WAIT_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

type G = Gauge;

/// The per-pair and per-site families.
pub struct PairMetrics {
    pub ready: Family<PairLabels, G>,
    pub in_sync: Family<PairLabels, G>,
    pub epoch: Family<PairLabels, G>,
    pub parity: Family<PairLabels, G>,
    /// Strays: sites beside the active one that report active, or answer
    /// with errors unfenced (plan::strays).
    pub strays: Family<PairLabels, G>,
    pub site_up: Family<SiteLabels, G>,
    pub site_active: Family<SiteLabels, G>,
    pub site_reports_active: Family<SiteLabels, G>,
    pub site_epoch: Family<SiteLabels, G>,
    pub promotion_phase: Family<PhaseLabels, G>,
    pub promotions: Family<KindLabels, Counter>,
    pub old_active_wait: Family<PairLabels, Histogram>,
    pub rehearsals: Family<ResultLabels, Counter>,
    /// How long each promotion step took, by step (the phase, or
    /// Verification), observed when it ended.
    pub promotion_steps: Family<StepLabels, Histogram>,
    /// The sites whose series exist, per (namespace, pair): what to remove.
    sites: Mutex<HashMap<(String, String), BTreeSet<String>>>,
}

impl PairMetrics {
    /// Create the families and register them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            ready: Family::default(),
            in_sync: Family::default(),
            epoch: Family::default(),
            parity: Family::default(),
            strays: Family::default(),
            site_up: Family::default(),
            site_active: Family::default(),
            site_reports_active: Family::default(),
            site_epoch: Family::default(),
            promotion_phase: Family::default(),
            promotions: Family::default(),
            old_active_wait: Family::new_with_constructor(wait_histogram),
            rehearsals: Family::default(),
            promotion_steps: Family::new_with_constructor(wait_histogram),
            sites: Mutex::new(HashMap::new()),
        };
        registry.register(
            "pair_ready",
            "1 when the pair's Ready condition is True, else 0",
            m.ready.clone(),
        );
        registry.register(
            "pair_in_sync",
            "1 when the pair's InSync condition is True, 0 when False, -1 when Unknown (no source, or not compared yet)",
            m.in_sync.clone(),
        );
        registry.register(
            "pair_epoch",
            "The pair's fencing epoch (status.epoch)",
            m.epoch.clone(),
        );
        registry.register(
            "pair_parity",
            "1 when every site reported the same product version and token key fingerprint, 0 when two differ, -1 when some site did not report them",
            m.parity.clone(),
        );
        registry.register(
            "pair_stray_sites",
            "Sites beside the active one that report active, or answer with errors without telling their mode and were never fenced at the pair's epoch (the Degraded reason StraySite); each is demoted as soon as it answers GET /mode",
            m.strays.clone(),
        );
        registry.register(
            "site_up",
            "1 when the site's last health check passed, 0 when it failed or the site did not answer",
            m.site_up.clone(),
        );
        registry.register(
            "site_active",
            "1 for the pair's active site (status.activeSite, where traffic goes), 0 for the others",
            m.site_active.clone(),
        );
        registry.register(
            "site_reports_active",
            "1 when the site itself reports active (GET /mode), 0 when it reports passive or did not answer",
            m.site_reports_active.clone(),
        );
        registry.register(
            "site_epoch",
            "The epoch the site reports (GET /mode); absent while unknown",
            m.site_epoch.clone(),
        );
        registry.register(
            "promotion_phase",
            "1 for the pair's current promotion phase (None when no promotion runs), 0 for the others",
            m.promotion_phase.clone(),
        );
        registry.register(
            "promotions",
            "Promotions finished, by kind: planned, automatic, forced (the old active never answered), initial (first activation), revert (the previous active promoted back after a failed verification)",
            m.promotions.clone(),
        );
        registry.register(
            "old_active_wait_seconds",
            "Time a promotion waited for a silent old active, observed when it stopped waiting (the site answered, the promotion was forced or cancelled)",
            m.old_active_wait.clone(),
        );
        registry.register(
            "rehearsals",
            "Rehearsals of a promotion finished (spec.promotion.rehearse), by result: Passed, Failed, Cancelled",
            m.rehearsals.clone(),
        );
        registry.register(
            "promotion_step_seconds",
            "Time each promotion step took, by step (Preflight, Demoting, WaitingForOldActive, Promoting, SwitchingTraffic, Verification), observed when the step ended",
            m.promotion_steps.clone(),
        );
        m
    }

    /// Set the gauges of a pair from the status just planned.
    pub fn observe_pair(&self, namespace: &str, pair: &str, status: &SiteHAPairStatus) {
        let p = PairLabels {
            namespace: namespace.to_string(),
            pair: pair.to_string(),
        };
        let cond = |t: &str| conditions::find(&status.conditions, t).map(|c| c.status);
        let ready = cond(types::READY) == Some(ConditionStatus::True);
        self.ready.get_or_create(&p).set(i64::from(ready));
        let in_sync = match cond(types::IN_SYNC) {
            Some(ConditionStatus::True) => 1,
            Some(ConditionStatus::False) => 0,
            _ => -1,
        };
        self.in_sync.get_or_create(&p).set(in_sync);
        self.epoch.get_or_create(&p).set(status.epoch);
        // The Parity condition: 1 matched, 0 differs, -1 unknown.
        let parity = match cond(types::PARITY) {
            Some(ConditionStatus::True) => 1,
            Some(ConditionStatus::False) => 0,
            _ => -1,
        };
        self.parity.get_or_create(&p).set(parity);
        let strays = crate::plan::strays::strays(status).len();
        self.strays
            .get_or_create(&p)
            .set(i64::try_from(strays).unwrap_or(i64::MAX));

        let current = match status.promotion.as_ref().map(|p| &p.phase) {
            None => "None",
            Some(PromotionPhase::Unknown(_)) => "Unknown",
            Some(ph) => ph.as_str(),
        };
        for phase in PHASES {
            let l = PhaseLabels {
                namespace: p.namespace.clone(),
                pair: p.pair.clone(),
                phase: phase.to_string(),
            };
            self.promotion_phase
                .get_or_create(&l)
                .set(i64::from(phase == current));
        }
        // Every kind from 0, so that increase() sees the first promotion.
        for kind in PromotionKind::ALL {
            self.promotions
                .get_or_create(&kind_labels(&p, kind))
                .inc_by(0);
        }

        let mut now_sites = BTreeSet::new();
        for row in &status.sites {
            let l = SiteLabels {
                namespace: p.namespace.clone(),
                pair: p.pair.clone(),
                site: row.name.clone(),
            };
            now_sites.insert(row.name.clone());
            match row.health {
                Some(h) => {
                    self.site_up
                        .get_or_create(&l)
                        .set(i64::from(h == SiteHealth::Healthy));
                }
                None => {
                    self.site_up.remove(&l);
                }
            }
            let active = status.active_site.as_deref() == Some(row.name.as_str());
            self.site_active.get_or_create(&l).set(i64::from(active));
            let reports = row.mode == Some(SiteMode::Active);
            self.site_reports_active
                .get_or_create(&l)
                .set(i64::from(reports));
            match row.epoch {
                Some(e) => {
                    self.site_epoch.get_or_create(&l).set(e);
                }
                None => {
                    self.site_epoch.remove(&l);
                }
            }
        }
        let gone: Vec<String> = {
            let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
            let before = sites
                .insert((p.namespace.clone(), p.pair.clone()), now_sites.clone())
                .unwrap_or_default();
            before.difference(&now_sites).cloned().collect()
        };
        for site in gone {
            self.remove_site(&p, &site);
        }
    }

    /// Count what one status write finished: promotions by kind, and the
    /// wait of a promotion that stopped waiting for its old active.
    pub fn observe_transition(
        &self,
        namespace: &str,
        pair: &str,
        before: Option<&SiteHAPairStatus>,
        after: &SiteHAPairStatus,
        now: jiff::Timestamp,
    ) {
        let p = PairLabels {
            namespace: namespace.to_string(),
            pair: pair.to_string(),
        };
        for kind in finished_promotions(before, after) {
            self.promotions.get_or_create(&kind_labels(&p, kind)).inc();
        }
        if let Some(waited) = stopped_waiting(before, after, now) {
            self.old_active_wait.get_or_create(&p).observe(waited);
        }
        if let Some(result) = crate::plan::rehearsal::finished_now(before, after) {
            self.rehearsals
                .get_or_create(&result_labels(&p, result.as_str()))
                .inc();
        }
        for (step, seconds) in ended_steps(before, after, now) {
            self.promotion_steps
                .get_or_create(&StepLabels { step })
                .observe(seconds);
        }
    }

    /// Remove every series of a pair that went away.
    pub fn forget_pair(&self, namespace: &str, pair: &str) {
        let p = PairLabels {
            namespace: namespace.to_string(),
            pair: pair.to_string(),
        };
        for f in [
            &self.ready,
            &self.in_sync,
            &self.epoch,
            &self.parity,
            &self.strays,
        ] {
            f.remove(&p);
        }
        self.old_active_wait.remove(&p);
        for phase in PHASES {
            self.promotion_phase.remove(&PhaseLabels {
                namespace: p.namespace.clone(),
                pair: p.pair.clone(),
                phase: phase.to_string(),
            });
        }
        for kind in PromotionKind::ALL {
            self.promotions.remove(&kind_labels(&p, kind));
        }
        for result in ["Passed", "Failed", "Cancelled"] {
            self.rehearsals.remove(&result_labels(&p, result));
        }
        let sites = self
            .sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(p.namespace.clone(), p.pair.clone()))
            .unwrap_or_default();
        for site in sites {
            self.remove_site(&p, &site);
        }
    }

    /// The pairs that have series, as `namespace/name`.
    pub fn tracked_pairs(&self) -> Vec<String> {
        self.sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect()
    }

    fn remove_site(&self, p: &PairLabels, site: &str) {
        let l = SiteLabels {
            namespace: p.namespace.clone(),
            pair: p.pair.clone(),
            site: site.to_string(),
        };
        for f in [
            &self.site_up,
            &self.site_active,
            &self.site_reports_active,
            &self.site_epoch,
        ] {
            f.remove(&l);
        }
    }
}

fn kind_labels(p: &PairLabels, kind: PromotionKind) -> KindLabels {
    KindLabels {
        namespace: p.namespace.clone(),
        pair: p.pair.clone(),
        kind: kind.as_str().to_string(),
    }
}

fn result_labels(p: &PairLabels, result: &str) -> ResultLabels {
    ResultLabels {
        namespace: p.namespace.clone(),
        pair: p.pair.clone(),
        result: result.to_string(),
    }
}

#[cfg(test)]
#[path = "pairs_tests.rs"]
mod tests;
