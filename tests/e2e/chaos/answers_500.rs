//! Chaos `answers-500`: the old active is blackholed, then answers 500:
//! after a forced promotion it is a stray (traffic stays on the new
//! active) until it answers and is demoted; while the promotion still
//! waits, a 500 blocks it and nothing is forced.

use super::speaking::*;
use super::*;

/// Scenario `answers-500`: the old active is blackholed by its proxy and
/// the promotion waits for it. Odd rounds: the window runs out, the
/// promotion is forced, then the old active answers 500 for a while (a
/// stray: Degraded StraySite, traffic stays on the new active) and then
/// answers and is demoted. Even rounds: it answers 500 while the promotion
/// still waits: the promotion blocks (SiteFailing) and is not forced, and
/// completes by demoting it once it answers.
#[test]
fn chaos_old_active_answering_500_is_never_overtaken_while_it_speaks() {
    const SCENARIO: &str = "answers-500";
    let rounds = rounds_from_env(SCENARIO_ROUNDS);
    let (mut rng, seed) = Rng::from_env();
    println!("chaos {SCENARIO}: {rounds} rounds, seed {seed} (replay with CHAOS_SEED={seed})");
    let started = Instant::now();
    let (p, proxies) = proxied_pair(
        "chaos-500",
        |pair| pair["spec"]["promotion"] = json!({"contactTimeout": B_CONTACT_TIMEOUT}),
        &[],
    );
    let rt = runtime();
    let sites = drivers(&p, Duration::from_secs(1));
    let t0 = Instant::now();
    let checker = SpeakChecker::start(watched(&p, &proxies), t0);
    let (mut forced, mut blocked, mut longest_demotion) = (0, 0, Duration::ZERO);
    let mut failures: Vec<String> = Vec::new();
    'rounds: for round in 1..=rounds {
        let (ti, oi) = direction(round);
        let (to, old) = (NAMES[ti], NAMES[oi]);
        let late = round % 2 == 1;
        let answer_500_for = rng.millis(1_500, 4_000);
        println!(
            "chaos {SCENARIO}: [{}] round {round}: {old} blackholed, promote {to}; {old} answers 500 for {answer_500_for:?} {}",
            stamp(t0),
            if late {
                "after the forced promotion"
            } else {
                "while the promotion waits"
            }
        );
        proxies[oi].set(Behaviour::Blackhole);
        p.promote(to);
        let patched = Instant::now();
        let mut forced_round = late;
        if !late {
            let waiting = poll_until(patched + B_ROUND_DEADLINE, || {
                Some(p.status()).filter(|st| {
                    st["promotion"]["phase"] == "WaitingForOldActive"
                        && st["promotion"]["deadline"].is_string()
                })
            });
            let Some(st) = waiting else {
                failures.push(format!(
                    "round {round}: never WaitingForOldActive; status {}",
                    p.status()
                ));
                break;
            };
            // Chaos timing: a random moment of the window, at least 1 s
            // before its deadline (no trip can force before then).
            let left = st["promotion"]["deadline"]
                .as_str()
                .and_then(|d| d.parse::<jiff::Timestamp>().ok())
                .map(|d| d.duration_since(jiff::Timestamp::now()))
                .and_then(|d| Duration::try_from(d).ok())
                .unwrap_or_default();
            sleep(
                rng.millis(0, 2_000)
                    .min(left.saturating_sub(Duration::from_secs(1))),
            );
            proxies[oi].set(Behaviour::Fail500);
            let st = p.status();
            let phase = st["promotion"]["phase"].as_str().unwrap_or("none");
            if st["activeSite"] == to || matches!(phase, "Promoting" | "SwitchingTraffic") {
                println!(
                    "chaos {SCENARIO}:   the promotion was forced before the 500 ({phase}): taken as a forced round"
                );
                forced_round = true;
            } else {
                println!(
                    "chaos {SCENARIO}:   [{}] {old} answers 500 in {phase}",
                    stamp(t0)
                );
                let since = Instant::now();
                let is_blocked = |st: &Value| {
                    let c = condition(st, "PromotionBlocked");
                    c["status"] == "True" && c["reason"] == "SiteFailing"
                };
                if poll_until(since + ROUND_DEADLINE, || {
                    Some(p.status()).filter(|st| is_blocked(st))
                })
                .is_none()
                {
                    failures.push(format!(
                        "round {round}: not blocked (SiteFailing) while {old} answers 500; status {}",
                        p.status()
                    ));
                    break;
                }
                blocked += 1;
                // It stays blocked, on the old active, for as long as it
                // answers 500 (looks every 200 ms; the checker looks on).
                while since.elapsed() < answer_500_for {
                    let st = p.status();
                    if st["activeSite"] != old || st["promotion"]["forced"] == true {
                        failures.push(format!(
                            "round {round}: the promotion went on while {old} answers 500: {st}"
                        ));
                        break 'rounds;
                    }
                    sleep(Duration::from_millis(200));
                }
            }
        }
        if forced_round {
            let done = poll_until(patched + B_ROUND_DEADLINE, || {
                Some(p.status()).filter(|st| st["activeSite"] == to && st["promotion"].is_null())
            });
            let Some(st) = done else {
                failures.push(format!(
                    "round {round}: the forced promotion did not complete; status {}",
                    p.status()
                ));
                break;
            };
            let rec = last_record(&st);
            if rec["to"] != to || rec["forced"] != true {
                failures.push(format!("round {round}: recorded as {rec}, not forced"));
            }
            forced += 1;
            println!(
                "chaos {SCENARIO}:   [{}] forced to {to} at epoch {} after {:.2}s",
                stamp(t0),
                st["epoch"],
                patched.elapsed().as_secs_f64()
            );
            if late {
                proxies[oi].set(Behaviour::Fail500);
            }
            // A stray: shown, and no traffic, at every look while it
            // answers 500.
            let since = Instant::now();
            let mut shown = false;
            while since.elapsed() < answer_500_for || !shown {
                if let Err(e) = traffic_on(&p, ti) {
                    failures.push(format!(
                        "round {round}: traffic left {to} while {old} answers 500: {e}"
                    ));
                    break 'rounds;
                }
                shown |= shows_stray(&p.status(), old);
                if !shown && since.elapsed() > ROUND_DEADLINE {
                    failures.push(format!(
                        "round {round}: {old} never shown as a stray; status {}",
                        p.status()
                    ));
                    break 'rounds;
                }
                sleep(Duration::from_millis(200));
            }
        }
        // It answers again: demoted at the pair's epoch, the pair settles.
        proxies[oi].set(Behaviour::Pass);
        let passed = Instant::now();
        let Some(epoch) = poll_until(passed + ROUND_DEADLINE, || settled(&p, &rt, &sites, to))
        else {
            failures.push(format!(
                "round {round}: not settled on {to} after {old} answered again; status {}",
                p.status()
            ));
            break;
        };
        let demoted = passed.elapsed();
        longest_demotion = longest_demotion.max(demoted);
        let st = p.status();
        let rec = last_record(&st);
        if !forced_round && rec["forced"] != false {
            failures.push(format!("round {round}: forced while {old} answered: {rec}"));
        }
        if let Err(e) = traffic_on(&p, ti) {
            failures.push(format!("round {round}: traffic after the round: {e}"));
        }
        let stray_left = poll_until(passed + ROUND_DEADLINE, || {
            (!shows_stray(&p.status(), old)).then_some(())
        });
        if stray_left.is_none() {
            failures.push(format!("round {round}: {old} still shown as a stray"));
        }
        println!(
            "chaos {SCENARIO}:   [{}] round {round} settled: {to} active at epoch {epoch}, {old} passive {:.2}s after it answered{}",
            stamp(t0),
            demoted.as_secs_f64(),
            if forced_round { ", forced" } else { "" }
        );
    }
    let t = checker.finish();
    conclude(
        SCENARIO,
        seed,
        rounds,
        &t,
        forced,
        &format!(
            ", {blocked} blocked by a 500, longest demotion after the answer {:.2}s, {:.0}s in all",
            longest_demotion.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
        &failures,
        &p,
        &proxies,
    );
}
