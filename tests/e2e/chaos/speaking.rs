//! What the issue-24 chaos scenarios share: the proxied pair, the
//! checker that asks every site directly and counts moments with two
//! speaking active sites, and the one-line report each scenario prints.

use super::*;

/// The pair's sites, east first, and their traffic addresses.
pub(super) const NAMES: [&str; 2] = ["east", "west"];
pub(super) const TRAFFIC: [&str; 2] = ["192.0.2.10", "192.0.2.20"];
/// Rounds of each scenario when `CHAOS_ROUNDS` is not set.
pub(super) const SCENARIO_ROUNDS: usize = 2;
/// spec.promotion.contactTimeout of the answers-500 scenario: long enough
/// that a 500 sent early in the window (up to 2 s in) lands well before
/// the operator could force (a blackholed call takes the operator's site
/// call timeout, 15 s, to count as silence).
pub(super) const B_CONTACT_TIMEOUT: &str = "4s";
/// A forced promotion takes two or three of the operator's 15 s site call
/// timeouts; a round that does not settle within this is a failure.
pub(super) const B_ROUND_DEADLINE: Duration = Duration::from_secs(120);
/// The duration of `LEASE`, and its renew deadline (the default, two
/// thirds of it).
pub(super) const LEASE_DURATION: Duration = Duration::from_secs(5);
pub(super) const RENEW_DEADLINE: Duration = Duration::from_secs(3);

/// Round `round`'s (target, old active) as indices into NAMES: west when
/// odd, east when even.
pub(super) fn direction(round: usize) -> (usize, usize) {
    if round % 2 == 1 { (1, 0) } else { (0, 1) }
}

/// A pair whose sites' admin URLs are proxies in front of them (east's
/// first); the test's own calls (`p.east`, `p.west`, `driver`) go to the
/// sites directly. `tweak` edits the pair first, as for `Pair::start`.
pub(super) fn proxied_pair(
    prefix: &str,
    tweak: impl FnOnce(&mut Value),
    op_args: &[&str],
) -> (Pair, Vec<Proxy>) {
    Pair::start_proxied(prefix, tweak, op_args, NAMES.len())
}

/// Direct drivers for both sites, east first.
pub(super) fn drivers(p: &Pair, timeout: Duration) -> [HttpSite; 2] {
    [driver(&p.east, timeout), driver(&p.west, timeout)]
}

/// Traffic is on `site` in status and in the EndpointSlice; else what is wrong.
pub(super) fn traffic_on(p: &Pair, site: usize) -> Result<(), String> {
    let st = p.status();
    if st["trafficSite"] != NAMES[site] {
        return Err(format!("status.trafficSite is {}", st["trafficSite"]));
    }
    let slice = p.slice_addresses();
    if slice != json!([TRAFFIC[site]]) {
        return Err(format!("the EndpointSlice holds {slice}"));
    }
    Ok(())
}

/// Degraded, reason StraySite, naming `site`.
pub(super) fn shows_stray(st: &Value, site: &str) -> bool {
    let d = condition(st, "Degraded");
    d["status"] == "True"
        && d["reason"] == "StraySite"
        && d["message"].as_str().is_some_and(|m| m.contains(site))
}

/// Send `sig` (STOP, CONT) to a process of this test.
pub(super) fn signal_pid(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

pub(super) fn stamp(t0: Instant) -> String {
    format!(
        "{:.2}s, {}",
        t0.elapsed().as_secs_f64(),
        jiff::Timestamp::now().strftime("%H:%M:%S%.3f")
    )
}

/// One site as the speaking checker watches it: asked directly, never
/// through its proxy; it speaks while the proxy in front of it (if any)
/// lets the operator hear it.
pub(super) struct Watched {
    pub(super) direct: HttpSite,
    pub(super) proxy: Option<BehaviourView>,
}

impl Watched {
    fn speaks(&self) -> bool {
        self.proxy.as_ref().is_none_or(|v| v.now().speaks())
    }
}

pub(super) fn watched(p: &Pair, proxies: &[Proxy]) -> Vec<Watched> {
    drivers(p, SAMPLE_TIMEOUT)
        .into_iter()
        .zip(proxies)
        .map(|(direct, px)| Watched {
            direct,
            proxy: Some(px.view()),
        })
        .collect()
}

/// What the speaking checker saw.
#[derive(Default)]
pub(super) struct SpeakTally {
    pub(super) samples: u64,
    /// Episodes (runs of samples) with two speaking active sites of which
    /// one was made active while the other spoke active, or both at one
    /// epoch: the violations.
    pub(super) two_speaking: u64,
    pub(super) longest_two: Duration,
    /// Episodes that began with an old active coming back (from silence,
    /// or from a read the checker missed) still active at an older epoch
    /// than the active site: strays, shown and fenced by design.
    pub(super) returning: u64,
    pub(super) longest_returning: Duration,
    /// Episodes of a site's epoch going down between two answers.
    pub(super) epoch_down: u64,
    pub(super) violations: Vec<String>,
    pub(super) returns: Vec<String>,
}

/// Samples every site's `GET /mode` every `SAMPLE_PERIOD`: two reads of
/// every site at once, one after the other; a site is active in the sample
/// when it spoke through both and both said active at one epoch, so two
/// sites active in one sample were active at one moment.
pub(super) struct SpeakChecker {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) handle: Option<JoinHandle<SpeakTally>>,
}

impl SpeakChecker {
    pub(super) fn start(sites: Vec<Watched>, t0: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            runtime().block_on(async move {
                let n = sites.len();
                let mut t = SpeakTally::default();
                // What each site last said in a sample it answered twice.
                let mut known: Vec<Option<ModeState>> = vec![None; n];
                let mut last_epoch: Vec<Option<i64>> = vec![None; n];
                let mut was_active: Vec<Option<i64>> = vec![None; n];
                let mut in_down = false;
                let mut violating: Option<Instant> = None;
                let mut returned: Option<Instant> = None;
                let mut tick = tokio::time::interval(SAMPLE_PERIOD);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let read_all = || futures::future::join_all(sites.iter().map(|s| s.direct.mode()));
                while !flag.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let before: Vec<bool> = sites.iter().map(Watched::speaks).collect();
                    let first: Vec<Result<ModeState, SiteError>> = read_all().await;
                    let second: Vec<Result<ModeState, SiteError>> = read_all().await;
                    let after: Vec<bool> = sites.iter().map(Watched::speaks).collect();
                    let now = Instant::now();
                    let at = format!("[{:.2}s]", t0.elapsed().as_secs_f64());
                    t.samples += 1;
                    let mut down = false;
                    for i in 0..n {
                        for m in [&first[i], &second[i]].into_iter().flatten() {
                            if let Some(prev) = last_epoch[i].filter(|p| m.epoch < *p) {
                                down = true;
                                if !in_down {
                                    t.epoch_down += 1;
                                    t.violations.push(format!(
                                        "{at} epoch down: {} went from epoch {prev} to {m:?}",
                                        sites[i].direct.name()
                                    ));
                                }
                            }
                            last_epoch[i] = Some(m.epoch);
                        }
                    }
                    in_down = down;
                    let active: Vec<Option<i64>> = (0..n)
                        .map(|i| match (&first[i], &second[i]) {
                            (Ok(a), Ok(b))
                                if before[i] && after[i] && a.mode == Mode::Active && a == b =>
                            {
                                Some(a.epoch)
                            }
                            _ => None,
                        })
                        .collect();
                    let actives: Vec<(usize, i64)> = active
                        .iter()
                        .enumerate()
                        .filter_map(|(i, e)| e.map(|e| (i, e)))
                        .collect();
                    let name = |i: usize| sites[i].direct.name().to_string();
                    if actives.len() >= 2 {
                        let others = |i: usize| -> Vec<(String, i64)> {
                            actives
                                .iter()
                                .filter(|(j, _)| *j != i)
                                .map(|(j, e)| (name(*j), *e))
                                .collect()
                        };
                        let mut violation = None;
                        let mut back = None;
                        for &(i, e) in &actives {
                            let beside = others(i);
                            if beside.iter().any(|(_, o)| *o == e) {
                                violation = Some(format!(
                                    "{} and {beside:?} active at one epoch {e}",
                                    name(i)
                                ));
                            }
                            if was_active[i] == Some(e) {
                                continue;
                            }
                            // It entered the set of speaking actives now.
                            let held = known[i].is_some_and(|k| k.mode == Mode::Active && k.epoch == e);
                            if !held {
                                violation = Some(format!(
                                    "{} made active at epoch {e} (it said {:?} before) while {beside:?} spoke active",
                                    name(i),
                                    known[i]
                                ));
                            } else if beside.iter().all(|(_, o)| e < *o) {
                                back = Some(format!(
                                    "{} speaks again, still active at epoch {e}, beside {beside:?}",
                                    name(i)
                                ));
                            }
                        }
                        if let Some(v) = violation
                            && violating.is_none()
                        {
                            violating = Some(now);
                            t.two_speaking += 1;
                            t.violations.push(format!("{at} two speaking active sites: {v}"));
                        }
                        if let Some(b) = back
                            && returned.is_none()
                        {
                            returned = Some(now);
                            t.returning += 1;
                            t.returns.push(format!("{at} {b}"));
                        }
                    } else {
                        if let Some(since) = violating.take() {
                            t.longest_two = t.longest_two.max(now - since);
                        }
                        if let Some(since) = returned.take() {
                            t.longest_returning = t.longest_returning.max(now - since);
                        }
                    }
                    for i in 0..n {
                        if let Ok(b) = &second[i] {
                            known[i] = Some(*b);
                        }
                    }
                    was_active = active;
                }
                let now = Instant::now();
                if let Some(since) = violating {
                    t.longest_two = t.longest_two.max(now - since);
                }
                if let Some(since) = returned {
                    t.longest_returning = t.longest_returning.max(now - since);
                }
                t
            })
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    pub(super) fn finish(mut self) -> SpeakTally {
        self.stop.store(true, Ordering::Relaxed);
        let h = self.handle.take().expect("checker handle");
        h.join().expect("checker thread")
    }
}

impl Drop for SpeakChecker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Print a scenario's figures (the violations first) and its summary line;
/// the number of violations the checker found.
pub(super) fn report(
    scenario: &str,
    rounds: usize,
    t: &SpeakTally,
    forced: usize,
    extra: &str,
) -> u64 {
    for v in t.violations.iter().take(NOTES_SHOWN) {
        println!("chaos {scenario}: violation: {v}");
    }
    for r in t.returns.iter().take(NOTES_SHOWN) {
        println!("chaos {scenario}: stray (by design): {r}");
    }
    println!(
        "chaos {scenario}: checker samples {}, epoch-down {}, returning old actives {} (longest until demoted {} ms)",
        t.samples,
        t.epoch_down,
        t.returning,
        t.longest_returning.as_millis()
    );
    println!(
        "chaos {scenario}: {rounds} rounds, {} moments with two speaking active sites, {forced} forced, longest two-active {} ms{extra}",
        t.two_speaking,
        t.longest_two.as_millis()
    );
    t.two_speaking + t.epoch_down
}

/// The end every scenario shares: print its failures and its figures
/// (`extra` after the common ones), keep the logs when anything went wrong
/// (or CHAOS_KEEP_LOGS), and assert no two speaking active sites, no
/// violation and no failure.
#[allow(clippy::too_many_arguments)]
pub(super) fn conclude(
    scenario: &str,
    seed: u64,
    rounds: usize,
    t: &SpeakTally,
    forced: usize,
    extra: &str,
    failures: &[String],
    p: &Pair,
    proxies: &[Proxy],
) {
    for f in failures {
        println!("chaos {scenario}: failure: {f}");
    }
    let violations = report(scenario, rounds, t, forced, extra);
    if violations > 0 || !failures.is_empty() || std::env::var_os("CHAOS_KEEP_LOGS").is_some() {
        let ops: Vec<&Operator> = p.op.iter().collect();
        let dir = keep_logs_of(scenario, seed, p, &ops, proxies);
        println!("chaos {scenario}: logs kept in {}", dir.display());
    }
    assert_eq!(t.two_speaking, 0, "two speaking active sites; seed {seed}");
    assert_eq!(violations, 0, "chaos violations; seed {seed}");
    assert!(failures.is_empty(), "{failures:#?}; seed {seed}");
}
