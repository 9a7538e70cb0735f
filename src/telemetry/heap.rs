//! What the operator's heap holds, read from jemalloc (the binary's global
//! allocator) each time /metrics is scraped: bytes the program has
//! allocated, bytes in pages the allocator keeps resident for it, and its own
//! bookkeeping. Beside the process RSS these say whether memory that stays
//! after a burst is held by the program or kept by the allocator.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which of jemalloc's totals a gauge holds.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeapLabels {
    pub kind: &'static str,
}

/// One of jemalloc's `stats.*` readers.
type ReadStat = fn() -> tikv_jemalloc_ctl::Result<usize>;

/// The heap gauges.
#[derive(Clone, Default)]
pub struct HeapMetrics {
    bytes: Family<HeapLabels, Gauge<i64, AtomicI64>>,
}

impl HeapMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "heap_bytes",
            "jemalloc totals: allocated (held by the program), active (in pages holding allocations), resident (in the allocator's resident pages), metadata (the allocator's own), retained (address space kept, not resident)",
            m.bytes.clone(),
        );
        m
    }

    /// Read the allocator's totals now. An allocator that does not answer
    /// (jemalloc not linked as the allocator of this build) leaves the
    /// gauges as they were.
    pub fn refresh(&self) {
        use tikv_jemalloc_ctl::{epoch, stats};
        if epoch::advance().is_err() {
            return;
        }
        let read: [(&'static str, ReadStat); 5] = [
            ("allocated", stats::allocated::read),
            ("active", stats::active::read),
            ("resident", stats::resident::read),
            ("metadata", stats::metadata::read),
            ("retained", stats::retained::read),
        ];
        for (kind, read) in read {
            if let Ok(v) = read() {
                self.bytes
                    .get_or_create(&HeapLabels { kind })
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }

    /// The last value read for `kind`.
    pub fn get(&self, kind: &'static str) -> i64 {
        self.bytes.get_or_create(&HeapLabels { kind }).get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn allocated_follows_what_jemalloc_hands_out() {
        let m = HeapMetrics::register(&mut Registry::default());
        m.refresh();
        let before = m.get("allocated");
        let layout = Layout::from_size_align(8 << 20, 8).expect("layout");
        // The test binary's allocator is the system one; ask jemalloc itself.
        let p = unsafe { tikv_jemallocator::Jemalloc.alloc(layout) };
        assert!(!p.is_null());
        m.refresh();
        let during = m.get("allocated");
        unsafe { tikv_jemallocator::Jemalloc.dealloc(p, layout) };
        m.refresh();
        let after = m.get("allocated");
        assert!(during - before >= 8 << 20, "{before} -> {during}");
        assert!(during - after >= 8 << 20, "{during} -> {after}");
        assert!(m.get("resident") > 0);
    }
}
