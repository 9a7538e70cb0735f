//! A client of a pair's sites through a load balancer, for the HAProxy
//! tests and the client bench (the node test's ClusterIP client is
//! `clients`, which waits per site): a bounded loop in a thread that GETs `/`
//! through an address (a load balancer on loopback) every few milliseconds
//! until stopped, one request at a time, each on a fresh connection, and
//! records what each got; then the figures a client sees.
//!
//! What counts, per request:
//! - failed: no answer (connection refused or reset, timeout) or a 5xx;
//! - served by a site that was not active at that moment: a 200 whose
//!   `X-Site-Epoch` is lower than an epoch some earlier answer already
//!   carried. A site takes a new epoch only when it is fenced (demoted) or
//!   activated by a promotion, so an earlier answer at epoch n proves that
//!   a promotion to epoch n had begun; a 200 at an older epoch after it
//!   came from an old active still serving after it was superseded (a
//!   split brain the client saw). A passive site answers 503 (the reference
//!   site refuses work while passive), so a passive or fenced site serving
//!   shows up here, not as a 200 at the current epoch.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::get;

/// Longest one client run may last, whatever the test does.
const MAX_RUN: Duration = Duration::from_secs(300);
/// One request's deadline (longer than the load balancer's hold).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

/// One request.
#[derive(Debug, Clone)]
pub struct Sample {
    pub sent: Instant,
    pub done: Instant,
    /// The status; None: no answer.
    pub status: Option<u16>,
    pub site: Option<String>,
    pub epoch: Option<u64>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s < 500)
    }
}

/// The client loop, running.
pub struct Clients {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Vec<Sample>>>,
}

impl Clients {
    /// GET `/` through `addr` (a loopback host:port), then wait `every`,
    /// again and again until `finish` (or MAX_RUN).
    pub fn start(addr: &str, every: Duration) -> Self {
        let sock: SocketAddr = addr.parse().expect("host:port");
        assert!(sock.ip().is_loopback(), "clients go to loopback only");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        let addr = addr.to_string();
        let handle = std::thread::spawn(move || {
            let begun = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) && begun.elapsed() < MAX_RUN {
                let sent = Instant::now();
                let answer = get(&addr, "/", REQUEST_TIMEOUT);
                let done = Instant::now();
                if answer.as_ref().is_some_and(|a| a.status < 500) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                samples.push(Sample {
                    sent,
                    done,
                    status: answer.as_ref().map(|a| a.status),
                    site: answer
                        .as_ref()
                        .and_then(|a| a.headers.get("x-site").cloned()),
                    epoch: answer
                        .as_ref()
                        .and_then(|a| a.headers.get("x-site-epoch"))
                        .and_then(|e| e.parse().ok()),
                });
                std::thread::sleep(every);
            }
            samples
        });
        Self {
            stop,
            served,
            handle: Some(handle),
        }
    }

    /// How many requests have succeeded so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Wait until `n` more requests have succeeded than had at the call.
    pub fn wait_served(&self, n: usize, timeout: Duration) {
        let from = self.served();
        super::wait_for(&format!("{n} more requests served"), timeout, || {
            (self.served() >= from + n).then_some(())
        });
    }

    /// Stop the loop; what it saw.
    pub fn finish(mut self) -> Record {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .handle
            .take()
            .expect("running")
            .join()
            .expect("client thread");
        Record { samples }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the client saw.
#[derive(Debug, Clone)]
pub struct Record {
    pub samples: Vec<Sample>,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub sent: usize,
    pub failed: usize,
    pub stale_served: usize,
    /// The longest run of failed requests: how many, and from the sending
    /// of its first to the answer of its last (ms).
    pub longest_run: usize,
    pub longest_run_ms: u64,
    /// From the trigger to the answer of the first success after which
    /// every request succeeded (ms); None: never served again.
    pub served_again_ms: Option<u64>,
}

impl Record {
    pub fn sent(&self) -> usize {
        self.samples.len()
    }

    pub fn failed(&self) -> usize {
        self.samples.iter().filter(|s| !s.ok()).count()
    }

    /// The 200s from a site at an epoch older than one an earlier answer
    /// carried (see the module comment).
    pub fn stale_served(&self) -> Vec<Sample> {
        let mut newest = 0;
        let mut stale = Vec::new();
        for s in &self.samples {
            if let Some(e) = s.epoch {
                if s.status == Some(200) && e < newest {
                    stale.push(s.clone());
                }
                newest = newest.max(e);
            }
        }
        stale
    }

    /// The longest run of consecutive failures: (count, ms).
    pub fn longest_failure_run(&self) -> (usize, u64) {
        let mut best = (0, 0);
        let mut run: Option<(usize, Instant)> = None;
        for s in &self.samples {
            if s.ok() {
                run = None;
                continue;
            }
            let (n, first) = run.map_or((1, s.sent), |(n, f)| (n + 1, f));
            run = Some((n, first));
            let ms = s.done.duration_since(first).as_millis() as u64;
            if n > best.0 || (n == best.0 && ms > best.1) {
                best = (n, ms);
            }
        }
        best
    }

    /// From `trigger` to the answer of the first success, among requests
    /// answered after it, from which on every request succeeded.
    pub fn served_again_after(&self, trigger: Instant) -> Option<Duration> {
        let after: Vec<&Sample> = self.samples.iter().filter(|s| s.done >= trigger).collect();
        let last_failure = after.iter().rposition(|s| !s.ok());
        let first_good = match last_failure {
            None => 0,
            Some(i) => i + 1,
        };
        after
            .get(first_good)
            .map(|s| s.done.duration_since(trigger))
    }

    /// The last site that served a 200, and at which epoch.
    pub fn last_served(&self) -> Option<(String, u64)> {
        self.samples
            .iter()
            .rev()
            .find(|s| s.status == Some(200))
            .and_then(|s| Some((s.site.clone()?, s.epoch?)))
    }

    /// Sites that served a 200 among requests sent after `t`.
    pub fn served_by_after(&self, t: Instant) -> Vec<String> {
        let mut sites: Vec<String> = self
            .samples
            .iter()
            .filter(|s| s.sent >= t && s.status == Some(200))
            .filter_map(|s| s.site.clone())
            .collect();
        sites.dedup();
        sites
    }

    pub fn figures(&self, trigger: Instant) -> Figures {
        let (longest_run, longest_run_ms) = self.longest_failure_run();
        Figures {
            sent: self.sent(),
            failed: self.failed(),
            stale_served: self.stale_served().len(),
            longest_run,
            longest_run_ms,
            served_again_ms: self
                .served_again_after(trigger)
                .map(|d| d.as_millis() as u64),
        }
    }

    /// The failures, for a test's message.
    pub fn failures(&self, start: Instant) -> String {
        self.samples
            .iter()
            .filter(|s| !s.ok())
            .map(|s| {
                format!(
                    "+{}ms {:?} {:?}@{:?}",
                    s.sent.duration_since(start).as_millis(),
                    s.status,
                    s.site,
                    s.epoch
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
