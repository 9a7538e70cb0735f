//! What a client of a pair's traffic saw (`clients::Clients` records it):
//! the samples, and the figures and problems a test or the client bench
//! reads from them.
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

use std::time::{Duration, Instant};

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

impl Record {
    /// The samples sent at or after `t`.
    pub fn since(&self, t: Instant) -> Record {
        Record {
            samples: self
                .samples
                .iter()
                .filter(|s| s.sent >= t)
                .cloned()
                .collect(),
        }
    }

    /// How many answers of each kind ("200 west", "503 east", "no answer").
    pub fn outcomes(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for s in &self.samples {
            let key = match s.status {
                Some(code) => format!("{code} {}", s.site.as_deref().unwrap_or("?")),
                None => "no answer".into(),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    /// The client's view of a planned promotion from `old` (active at
    /// `old_epoch`) to `new` (at `new_epoch`), asked for at `asked` and
    /// seen complete at `done`: the problems found (empty when none). A 200
    /// comes only from a site active at that moment (the reference site
    /// answers by its mode), so: no 200 from `old` after one from `new`,
    /// each site's 200s at its own epoch, epochs never going backwards,
    /// every 200 sent after `done` from `new`, and at least one such.
    pub fn planned_promotion_problems(
        &self,
        (old, old_epoch): (&str, u64),
        (new, new_epoch): (&str, u64),
        asked: Instant,
        done: Instant,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let at = |s: &Sample| {
            format!(
                "{} ms after the spec change",
                s.sent.saturating_duration_since(asked).as_millis()
            )
        };
        let mut last_epoch: Option<u64> = None;
        let mut new_served = false;
        for s in &self.samples {
            if let (Some(e), Some(l)) = (s.epoch, last_epoch)
                && e < l
            {
                problems.push(format!(
                    "epoch went back from {l} to {e} ({:?}, {})",
                    s.site,
                    at(s)
                ));
            }
            last_epoch = s.epoch.or(last_epoch);
            if s.status != Some(200) {
                continue;
            }
            match s.site.as_deref() {
                Some(x) if x == new => {
                    new_served = true;
                    if s.epoch != Some(new_epoch) {
                        problems.push(format!("{new} served at epoch {:?} ({})", s.epoch, at(s)));
                    }
                }
                Some(x) if x == old => {
                    if new_served {
                        problems.push(format!("{old} served after {new} had ({})", at(s)));
                    }
                    if s.epoch != Some(old_epoch) {
                        problems.push(format!("{old} served at epoch {:?} ({})", s.epoch, at(s)));
                    }
                    if s.sent >= done {
                        problems.push(format!(
                            "{old} served after the promotion completed ({})",
                            at(s)
                        ));
                    }
                }
                other => problems.push(format!("a 200 naming {other:?} ({})", at(s))),
            }
        }
        if !self
            .samples
            .iter()
            .any(|s| s.sent >= done && s.status == Some(200))
        {
            problems.push(format!("no 200 after the promotion completed (from {new})"));
        }
        problems
    }
}
