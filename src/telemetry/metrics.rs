//! The operator's Prometheus metrics, registered once and shared: the
//! operator's own here, the per-pair and per-site ones in `pairs`.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::heap::HeapMetrics;
use super::pairs::PairMetrics;

/// Label of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub leader: Gauge<i64, AtomicI64>,
    /// Events published, by reason (Synced, Promoted, Fenced, SyncHalted, ...).
    pub events: Family<ErrorLabels, Counter>,
    /// Secrets read from the API server (GET); the rest came from the cache.
    pub secret_reads: Counter,
    /// Per-pair and per-site state, promotions and waits.
    pub pairs: PairMetrics,
    /// The allocator's totals, read at each scrape.
    pub heap: HeapMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sitehapair");
        let reconciles = Counter::default();
        registry.register(
            "reconciles",
            "Reconciles of SiteHAPair objects",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by reason",
            reconcile_errors.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            reconcile_duration.clone(),
        );
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "leader",
            "1 when this replica holds the leader Lease and reconciles, else 0",
            leader.clone(),
        );
        let events = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "events",
            "Kubernetes Events published about pairs, by reason (Synced, Promoted, Fenced, SyncHalted, PruneBlocked, ...)",
            events.clone(),
        );
        let secret_reads = Counter::default();
        registry.register(
            "secret_reads",
            "Secrets read from the API server; at rest this stays flat (the data of a watched Secret is read once per change)",
            secret_reads.clone(),
        );
        let pairs = PairMetrics::register(&mut registry);
        let heap = HeapMetrics::register(&mut registry);
        Self {
            registry,
            pairs,
            heap,
            secret_reads,
            events,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            leader,
        }
    }
}

impl Metrics {
    /// Count one reconcile and its duration.
    pub fn observe_reconcile(&self, took: Duration) {
        self.reconciles.inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Count one failed reconcile.
    pub fn observe_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Count one published Event.
    pub fn observe_event(&self, reason: &str) {
        self.events
            .get_or_create(&ErrorLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The text exposition format served on /metrics.
    pub fn render(&self) -> String {
        self.heap.refresh();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let m = Metrics::default();
        m.observe_reconcile(Duration::from_millis(12));
        m.observe_error("Kube");
        m.leader.set(1);
        m.observe_event("Promoted");
        let text = m.render();
        assert!(
            text.contains("sitehapair_events_total{reason=\"Promoted\"} 1"),
            "{text}"
        );
        assert!(text.contains("sitehapair_reconciles_total 1"), "{text}");
        assert!(
            text.contains("sitehapair_reconcile_errors_total{reason=\"Kube\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sitehapair_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("sitehapair_leader 1"), "{text}");
        assert!(
            text.contains("sitehapair_heap_bytes{kind=\"resident\"}"),
            "{text}"
        );
    }
}
