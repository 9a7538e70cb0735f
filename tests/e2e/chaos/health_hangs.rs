//! Chaos `health-hangs`: the old active's health check hangs (or answers
//! past its timeout) while its admin API answers; every promotion demotes
//! it through `PUT /mode`, never forced.

use super::speaking::*;
use super::*;

/// Scenario `health-hangs`: the old active's health check hangs, or is
/// answered only after the health timeout, while its admin API answers.
/// The promotion demotes it through `PUT /mode` and is never forced,
/// although the contact window (2 s) is shorter than the rounds.
#[test]
fn chaos_health_check_hangs_while_the_admin_api_answers_never_forced() {
    const SCENARIO: &str = "health-hangs";
    let rounds = rounds_from_env(SCENARIO_ROUNDS);
    let (mut rng, seed) = Rng::from_env();
    println!("chaos {SCENARIO}: {rounds} rounds, seed {seed} (replay with CHAOS_SEED={seed})");
    let started = Instant::now();
    let (p, proxies) = proxied_pair(
        "chaos-hang",
        |pair| {
            pair["spec"]["healthCheck"] =
                json!({"path": "/health", "interval": "1s", "timeout": "1s"});
            pair["spec"]["promotion"] = json!({"contactTimeout": CONTACT_TIMEOUT});
        },
        &[],
    );
    let rt = runtime();
    let sites = drivers(&p, Duration::from_secs(1));
    let t0 = Instant::now();
    let checker = SpeakChecker::start(watched(&p, &proxies), t0);
    let both_checker = crate::support::checker::Checker::start(&p.east, &p.west);
    let (mut forced, mut longest) = (0, Duration::ZERO);
    let mut failures: Vec<String> = Vec::new();
    for round in 1..=rounds {
        let (ti, oi) = direction(round);
        let (to, old) = (NAMES[ti], NAMES[oi]);
        let hang = if rng.below(2) == 0 {
            Behaviour::HangHealth
        } else {
            Behaviour::DelayHealth(rng.millis(1_300, 3_000))
        };
        let patch_after = rng.millis(0, 2_500);
        let demotions = proxies[oi].count("PUT", "/mode", Outcome::Forwarded);
        println!(
            "chaos {SCENARIO}: [{}] round {round}: {old}'s health check {hang:?}; promote {to} {patch_after:?} later",
            stamp(t0)
        );
        proxies[oi].set(hang);
        // Chaos timing: the patch lands at a random moment of the hang.
        sleep(patch_after);
        let unhealthy = p.status()["sites"][oi]["health"] == "Unhealthy";
        p.promote(to);
        let patched = Instant::now();
        let Some(epoch) = poll_until(patched + ROUND_DEADLINE, || settled(&p, &rt, &sites, to))
        else {
            failures.push(format!(
                "round {round}: {to} not settled after {ROUND_DEADLINE:?}; status {}",
                p.status()
            ));
            break;
        };
        let took = patched.elapsed();
        longest = longest.max(took);
        let st = p.status();
        let rec = last_record(&st);
        forced += usize::from(rec["forced"] == true);
        if rec["from"] != old || rec["to"] != to || rec["forced"] != false || rec["epoch"] != epoch
        {
            failures.push(format!(
                "round {round}: the promotion was recorded as {rec}, not {old} -> {to} unforced at epoch {epoch}"
            ));
        }
        if proxies[oi].count("PUT", "/mode", Outcome::Forwarded) <= demotions {
            failures.push(format!(
                "round {round}: no PUT /mode reached {old} through its admin URL"
            ));
        }
        println!(
            "chaos {SCENARIO}:   round {round} settled in {:.2}s: {to} active at epoch {epoch}, {old} demoted{}",
            took.as_secs_f64(),
            if unhealthy {
                " (it was shown Unhealthy at the patch)"
            } else {
                ""
            }
        );
        proxies[oi].set(Behaviour::Pass);
        // A target must be healthy: the next round promotes it back.
        let healthy = poll_until(Instant::now() + ROUND_DEADLINE, || {
            (p.status()["sites"][oi]["health"] == "Healthy").then_some(())
        });
        if healthy.is_none() {
            failures.push(format!(
                "round {round}: {old} not Healthy again; status {}",
                p.status()
            ));
            break;
        }
    }
    let t = checker.finish();
    let (samples, both) = both_checker.finish();
    if !p.events("PromotionForced").is_empty() {
        failures.push(format!(
            "PromotionForced Events: {:?}",
            p.events("PromotionForced")
        ));
    }
    if !both.is_empty() {
        failures.push(format!(
            "promotion::Checker saw both sites active ({samples} samples): {both:?}"
        ));
    }
    conclude(
        SCENARIO,
        seed,
        rounds,
        &t,
        forced,
        &format!(
            ", longest promotion {:.2}s, {:.0}s in all",
            longest.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
        &failures,
        &p,
        &proxies,
    );
    assert_eq!(forced, 0, "forced past a site whose admin API answers");
}
