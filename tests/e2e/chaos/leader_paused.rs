//! Chaos `leader-paused`: the Lease holder is SIGSTOPped past its Lease
//! during a role write; the other replica finishes, and the old one,
//! continued, writes nothing late.

use super::speaking::*;
use super::*;

/// Where the leader-paused scenario stops the Lease holder.
#[derive(Debug, Clone, Copy)]
enum StopAt {
    /// While the proxy in front of site `.0` holds its `PUT /mode` for `.1`.
    HeldWrite(usize, Duration),
    /// This long after it wrote Promoting, its connect for the activation
    /// hanging at the target's stalled proxy.
    Connect(Duration),
    /// This long after the patch.
    After(Duration),
}

/// How long the connect variant holds the demotion, while the target's
/// proxy fills its backlog.
const CONNECT_DEMOTION_HELD: Duration = Duration::from_millis(600);

/// The last `n` lines of an operator's log that mention one of `words`,
/// trimmed.
fn log_lines(op: &Operator, words: &[&str], n: usize) -> Vec<String> {
    let logs = op.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| words.iter().any(|w| l.contains(w)))
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.chars().take(400).collect())
        .collect()
}

/// PUT /mode calls logged by the sites as sent by replica `identity`
/// after `after`.
fn mode_writes_by(p: &Pair, identity: &str, after: jiff::Timestamp) -> Vec<Value> {
    let tag = format!("({identity})");
    [&p.east, &p.west]
        .iter()
        .flat_map(|s| s.requests())
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"].as_str().is_some_and(|p| p.ends_with("/mode"))
                && r["agent"].as_str().is_some_and(|a| a.contains(&tag))
                && r["time"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|t| t > after)
        })
        .collect()
}

/// Scenario `leader-paused`: two replicas with 5 s leases. Right after a
/// promotion's patch the Lease holder is SIGSTOPped, one of four ways
/// (each a quarter of the rounds): while a proxy holds its `PUT /mode` to
/// the old active (the demotion) or to the target (the activation) for
/// 0.2..0.9 s, so the write was sent in time and lands while it is
/// stopped; 0..300 ms after it wrote Promoting, its connect for the
/// activation hanging at the target's proxy, which accepts nothing (the
/// write not sent yet: continued, it must not send it); or 0..150 ms after
/// the patch. It stays stopped past the Lease duration and until the other
/// replica holds the Lease and has settled the pair, then is continued: it
/// must exit without another `PUT /mode` (the sites' request logs name the
/// replica), and the pair must stay as the new leader left it.
#[test]
fn chaos_leader_paused_past_its_lease_during_a_role_write_writes_nothing_late() {
    const SCENARIO: &str = "leader-paused";
    let rounds = rounds_from_env(SCENARIO_ROUNDS);
    let (mut rng, seed) = Rng::from_env();
    println!("chaos {SCENARIO}: {rounds} rounds, seed {seed} (replay with CHAOS_SEED={seed})");
    let started = Instant::now();
    let (mut p, proxies) = proxied_pair("chaos-pause", |_| {}, &LEASE);
    let mut ops = Replicas {
        ns: p.ns.name.clone(),
        live: p.op.take().into_iter().collect(),
        dead: Vec::new(),
        started: 0,
    };
    ops.spawn();
    let rt = runtime();
    let sites = drivers(&p, Duration::from_secs(1));
    let t0 = Instant::now();
    let checker = SpeakChecker::start(watched(&p, &proxies), t0);
    let both_checker = crate::support::checker::Checker::start(&p.east, &p.west);
    let (mut forced, mut at_write, mut at_connect) = (0, 0, 0);
    let (mut late, mut after_deadline) = (0, 0);
    let mut longest_stop = Duration::ZERO;
    let mut failures: Vec<String> = Vec::new();
    for round in 1..=rounds {
        let (ti, oi) = direction(round);
        let to = NAMES[ti];
        let Some(h) = poll_until(Instant::now() + ROUND_DEADLINE, || ops.live_holder(&p.ns)) else {
            failures.push(format!("round {round}: no live replica holds the Lease"));
            break;
        };
        let identity = ops.live[h].identity.clone();
        let pid = ops.live[h].pid().expect("a live replica's pid");
        // Where it is stopped: at the demotion, at the activation, or at
        // a random moment.
        let stop_at = match rng.below(4) {
            0 => StopAt::HeldWrite(oi, rng.millis(200, 900)),
            1 => StopAt::HeldWrite(ti, rng.millis(200, 900)),
            2 => StopAt::Connect(rng.millis(0, 300)),
            _ => StopAt::After(rng.millis(0, 150)),
        };
        let where_ = match stop_at {
            StopAt::HeldWrite(i, delay) => format!(
                "at its PUT /mode to {} (held {delay:?} by the proxy)",
                NAMES[i]
            ),
            StopAt::Connect(after) => format!(
                "{after:?} into its connect to {to} for the activation (the proxy accepts nothing)"
            ),
            StopAt::After(after) => format!("{after:?} after the patch"),
        };
        println!(
            "chaos {SCENARIO}: [{}] round {round}: promote {to}; stop the leader {identity} {where_}",
            stamp(t0)
        );
        let seen_before: Vec<usize> = proxies.iter().map(|px| px.requests().len()).collect();
        // A PUT /mode read by proxy `i` this round that ended as `outcome`.
        let put_seen = |i: usize, outcome: Outcome| {
            proxies[i].requests()[seen_before[i]..]
                .iter()
                .any(|r| r.method == "PUT" && r.path.ends_with("/mode") && r.outcome == outcome)
        };
        let soon = || Instant::now() + Duration::from_secs(10);
        let fast = Duration::from_millis(5);
        match stop_at {
            StopAt::HeldWrite(i, delay) => proxies[i].set(Behaviour::DelayWrites(delay)),
            // The demotion waits in the proxy while the target's proxy
            // stalls; then the activation's connect hangs.
            StopAt::Connect(_) => proxies[oi].set(Behaviour::DelayWrites(CONNECT_DEMOTION_HELD)),
            StopAt::After(_) => {}
        }
        let round_start = jiff::Timestamp::now();
        let mut seen_held = false;
        p.promote(to);
        match stop_at {
            StopAt::HeldWrite(i, _) => {
                // Stop it while its write waits in the proxy.
                seen_held =
                    poll_until_every(soon(), fast, || put_seen(i, Outcome::Held).then_some(()))
                        .is_some();
                if seen_held {
                    at_write += 1;
                } else {
                    println!(
                        "chaos {SCENARIO}:   no PUT /mode held at {}: stopped anyway",
                        NAMES[i]
                    );
                }
            }
            StopAt::Connect(after) => {
                let stalled =
                    poll_until_every(soon(), fast, || put_seen(oi, Outcome::Held).then_some(()))
                        .and_then(|()| {
                            proxies[ti].set(Behaviour::StallAccepts);
                            poll_until_every(soon(), fast, || proxies[ti].stalled().then_some(()))
                        })
                        .and_then(|()| {
                            poll_until_every(soon(), fast, || {
                                put_seen(oi, Outcome::Forwarded).then_some(())
                            })
                        })
                        .and_then(|()| {
                            // Promoting is written right before the activation.
                            poll_until_every(soon(), fast, || {
                                (p.status()["promotion"]["phase"] == "Promoting").then_some(())
                            })
                        });
                if stalled.is_some() && put_seen(oi, Outcome::Forwarded) {
                    at_connect += 1;
                    sleep(after);
                } else {
                    println!(
                        "chaos {SCENARIO}:   the activation's connect was not reached in time: stopped anyway"
                    );
                }
            }
            StopAt::After(after) => sleep(after),
        }
        signal_pid(pid, "STOP");
        let stopped = Instant::now();
        let stopped_wall = jiff::Timestamp::now();
        // Its connect goes through now (its kernel sends the SYN again),
        // and the other replica's calls too.
        for px in &proxies {
            px.set(Behaviour::Pass);
        }
        let st = p.status();
        let phase = st["promotion"]["phase"].as_str().map_or_else(
            || {
                if st["activeSite"] == to {
                    "finished".to_string()
                } else {
                    "not started".to_string()
                }
            },
            str::to_string,
        );
        println!(
            "chaos {SCENARIO}:   [{}] stopped {identity}; the promotion was {phase}",
            stamp(t0)
        );
        // The other replica takes the Lease and settles the pair.
        let taken = poll_until(stopped + ROUND_DEADLINE, || {
            let lease = p.ns.get_json("lease/sitehapair-operator")?;
            let holder = lease["spec"]["holderIdentity"].as_str()?.to_string();
            if holder == identity {
                return None;
            }
            settled(&p, &rt, &sites, to).map(|e| (holder, e))
        });
        // Stopped past the Lease duration, whatever its last renewal.
        let hold_until = stopped + LEASE_DURATION + rng.millis(0, 1_000);
        sleep(hold_until.saturating_duration_since(Instant::now()));
        let stop_lasted = stopped.elapsed();
        longest_stop = longest_stop.max(stop_lasted);
        let continued = jiff::Timestamp::now();
        signal_pid(pid, "CONT");
        let Some((heir, epoch)) = taken else {
            failures.push(format!(
                "round {round}: not settled on {to} by another replica; status {}",
                p.status()
            ));
            break;
        };
        println!(
            "chaos {SCENARIO}:   [{}] {heir} settled {to} at epoch {epoch}; {identity} continued after {:.2}s stopped",
            stamp(t0),
            stop_lasted.as_secs_f64()
        );
        // It finds another holder and exits (one term per process).
        let mut op = ops.live.remove(h);
        let exit = op.wait_exit(Duration::from_secs(20));
        for line in log_lines(&op, &["mode", "Lease", "lead"], 4) {
            println!("chaos {SCENARIO}:     {identity} log: {line}");
        }
        if exit.is_none() {
            failures.push(format!(
                "round {round}: {identity} still runs 20 s after it was continued"
            ));
            op.kill();
        }
        ops.dead.push(op);
        ops.spawn();
        // The sites' logs name it: the write it was stopped at landed
        // (the proxy forwarded it while it was stopped).
        if seen_held && mode_writes_by(&p, &identity, round_start).is_empty() {
            failures.push(format!(
                "round {round}: no PUT /mode by {identity} in the sites' logs: the late-write count would see none"
            ));
        }
        // Nothing it had started lands late, and the pair stays settled.
        let writes = mode_writes_by(&p, &identity, continued);
        late += writes.len();
        for w in &writes {
            println!("chaos {SCENARIO}:   late write by {identity}: {w}");
        }
        // Its renew deadline lay at most RENEW_DEADLINE after the stop
        // (it renewed last before it).
        let renew_deadline = stopped_wall
            .checked_add(jiff::SignedDuration::try_from(RENEW_DEADLINE).expect("duration"))
            .expect("timestamp");
        after_deadline += mode_writes_by(&p, &identity, renew_deadline).len();
        match settled(&p, &rt, &sites, to) {
            Some(e) if e == epoch => {}
            other => failures.push(format!(
                "round {round}: after {identity} exited the pair is {other:?}, not {to} at epoch {epoch}; status {}",
                p.status()
            )),
        }
        let rec = last_record(&p.status());
        forced += usize::from(rec["forced"] == true);
        println!(
            "chaos {SCENARIO}:   [{}] {identity} exited ({exit:?}); PUT /mode by it after it was continued: {}",
            stamp(t0),
            writes.len()
        );
    }
    let t = checker.finish();
    let (samples, both) = both_checker.finish();
    if !both.is_empty() {
        failures.push(format!(
            "promotion::Checker saw both sites active ({samples} samples): {both:?}"
        ));
    }
    for f in &failures {
        println!("chaos {SCENARIO}: failure: {f}");
    }
    let violations = report(
        SCENARIO,
        rounds,
        &t,
        forced,
        &format!(
            ", late writes {late} ({after_deadline} landed after the renew deadline), stops at a held write {at_write}, at a connect {at_connect}, longest stop {:.2}s, {:.0}s in all",
            longest_stop.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
    );
    if violations > 0
        || late > 0
        || !failures.is_empty()
        || std::env::var_os("CHAOS_KEEP_LOGS").is_some()
    {
        let ops: Vec<&Operator> = ops.live.iter().chain(&ops.dead).collect();
        let dir = keep_logs_of(SCENARIO, seed, &p, &ops, &proxies);
        println!("chaos {SCENARIO}: logs kept in {}", dir.display());
    }
    assert_eq!(t.two_speaking, 0, "two speaking active sites; seed {seed}");
    assert_eq!(violations, 0, "chaos violations; seed {seed}");
    assert_eq!(
        late, 0,
        "a paused leader wrote a mode after it was continued; seed {seed}"
    );
    assert!(failures.is_empty(), "{failures:#?}; seed {seed}");
}
