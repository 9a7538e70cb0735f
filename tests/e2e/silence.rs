//! Only the admin API can be silent. East, the active site, sits behind a
//! proxy the test switches while the promotion runs: a health check that
//! hangs while the admin API answers makes east unhealthy, not silent, so
//! the promotion demotes it and is not forced; and an old active that
//! comes back from a forced promotion answering 500 to every call is shown
//! as a stray, gets no traffic, and is demoted as soon as it answers. An
//! old active that answers 500 to everything blocks the promotion and is
//! never forced past by the operator; a person can (`sitehapair promote
//! --force-past east@N`), which is recorded with who asked.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitehapair::sites::Mode;

use crate::support::checker::Checker;
use crate::support::drivers::mode_of;
use crate::support::pair::Pair;
use crate::support::proxy::{Behaviour, Outcome, Proxy};
use crate::support::status::{WAIT, last_record};
use crate::support::{condition, testbed, wait_for};

const EAST_TRAFFIC: &str = "192.0.2.10";
const WEST_TRAFFIC: &str = "192.0.2.20";
/// The pairs' health check interval (Pair::start sets 1s).
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Start a pair whose east admin URL is a proxy in front of east's
/// reference site (the test's own calls to `p.east` go to the site
/// directly); `tweak` edits the pair first, as for `Pair::start`.
fn pair_with_east_behind_a_proxy(prefix: &str, tweak: impl FnOnce(&mut Value)) -> (Pair, Proxy) {
    let (p, mut proxies) = Pair::start_proxied(prefix, tweak, &[], 1);
    (p, proxies.remove(0))
}

#[test]
fn a_health_check_that_hangs_while_the_admin_api_answers_is_demoted_not_forced() {
    let (p, proxy) = pair_with_east_behind_a_proxy("silence-hang", |pair| {
        pair["spec"]["healthCheck"] = json!({"path": "/health", "interval": "1s", "timeout": "1s"});
        pair["spec"]["promotion"] = json!({"contactTimeout": "4s"});
    });
    let checker = Checker::start(&p.east, &p.west);
    proxy.set(Behaviour::HangHealth);
    // The operator's health check of east has hung and been given up on;
    // its admin API still answers.
    wait_for("a health check of east given up on", WAIT, || {
        (proxy.count("GET", "/health", Outcome::Abandoned) >= 1).then_some(())
    });
    // Checks forwarded before the switch, in flight at it included.
    let answered_checks = proxy.count("GET", "/health", Outcome::Forwarded);
    assert_eq!(mode_of(&p.east, "east-token-1"), Some((Mode::Active, 1)));
    p.promote("west");
    let st = p.wait_status("the promotion to west to complete", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let rec = last_record(&st);
    assert_eq!(
        (rec["from"].as_str(), rec["to"].as_str()),
        (Some("east"), Some("west")),
        "{st}"
    );
    assert_eq!(
        rec["forced"], false,
        "forced past a site whose admin API answers: {st}"
    );
    let epoch = st["epoch"].as_i64().expect("status.epoch");
    assert_eq!(rec["epoch"], epoch, "{st}");
    assert!(epoch >= 2, "{st}");
    assert!(p.events("PromotionForced").is_empty());
    // East itself (not through the proxy) says passive at the new epoch.
    wait_for("east passive at the new epoch", WAIT, || {
        (mode_of(&p.east, "east-token-1") == Some((Mode::Passive, epoch))).then_some(())
    });
    assert_eq!(
        mode_of(&p.west, "west-token-2"),
        Some((Mode::Active, epoch))
    );
    // The demotion went through the proxy: east's admin API was spoken to.
    assert!(
        proxy.count("PUT", "/mode", Outcome::Forwarded) >= 1,
        "no PUT /mode reached east: {:?}",
        proxy.requests()
    );
    // The health check hung the whole time: no answer of it reached the operator.
    assert_eq!(
        proxy.count("GET", "/health", Outcome::Forwarded),
        answered_checks
    );
    let (samples, both) = checker.finish();
    assert!(samples > 10, "the checker took only {samples} samples");
    assert!(both.is_empty(), "both sites active at once: {both:?}");
}

/// Wait until `ok(status)` holds, checking at every look that traffic is on
/// west: status.trafficSite and the EndpointSlice never point at east. A
/// timeout names the status last seen.
fn wait_with_traffic_on_west(p: &Pair, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let give_up = Instant::now() + WAIT;
    wait_for(what, WAIT + Duration::from_secs(5), || {
        let st = p.status();
        assert_eq!(st["trafficSite"], "west", "traffic left west: {st}");
        let slice = p.slice_addresses();
        assert_ne!(slice, json!([EAST_TRAFFIC]), "traffic went back to east");
        if ok(&st) {
            return Some(st);
        }
        assert!(
            Instant::now() < give_up,
            "timed out after {WAIT:?} waiting for {what}; the status then: {st}"
        );
        None
    })
}

fn is_stray_east(st: &Value) -> bool {
    let d = condition(st, "Degraded");
    d["status"] == "True"
        && d["reason"] == "StraySite"
        && d["message"].as_str().is_some_and(|m| m.contains("east"))
}

#[test]
fn an_old_active_that_answers_500_after_a_forced_promotion_is_shown_and_demoted_when_it_answers() {
    let (p, proxy) = pair_with_east_behind_a_proxy("silence-stray", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "3s"});
    });
    // East goes silent: connections accepted, nothing ever answered.
    proxy.set(Behaviour::Blackhole);
    p.promote("west");
    // Silence is known only when an admin call to east times out (15 s in
    // the operator), once before the promotion starts and once in it.
    let st = wait_for("the forced promotion to west", 2 * WAIT, || {
        Some(p.status()).filter(|st| st["activeSite"] == "west" && st["promotion"].is_null())
    });
    let rec = last_record(&st);
    assert_eq!(
        (rec["to"].as_str(), rec["forced"].as_bool()),
        (Some("west"), Some(true)),
        "{st}"
    );
    let epoch = st["epoch"].as_i64().expect("status.epoch");
    assert_eq!(
        mode_of(&p.west, "west-token-2"),
        Some((Mode::Active, epoch))
    );
    wait_for("traffic on west", WAIT, || {
        (p.slice_addresses() == json!([WEST_TRAFFIC])).then_some(())
    });

    // East comes back answering 500 to everything: its role is unknown,
    // and it still believes it is active at epoch 1.
    proxy.set(Behaviour::Fail500);
    assert_eq!(mode_of(&p.east, "east-token-1"), Some((Mode::Active, 1)));
    wait_for("the operator to get a 500 from east", WAIT, || {
        (proxy.count("GET", "", Outcome::Failed) >= 1).then_some(())
    });
    let st = wait_with_traffic_on_west(&p, "Degraded StraySite naming east", is_stray_east);
    assert_eq!(st["activeSite"], "west", "{st}");
    // For two health intervals and more, it stays shown and gets no traffic.
    let until = Instant::now() + 3 * HEALTH_INTERVAL;
    while Instant::now() < until {
        let st = p.status();
        assert!(is_stray_east(&st), "the stray is no longer shown: {st}");
        assert_eq!(
            (st["activeSite"].as_str(), st["trafficSite"].as_str()),
            (Some("west"), Some("west")),
            "{st}"
        );
        assert_eq!(p.slice_addresses(), json!([WEST_TRAFFIC]));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(mode_of(&p.east, "east-token-1"), Some((Mode::Active, 1)));

    // East answers again: it is demoted at the pair's newer epoch.
    proxy.set(Behaviour::Pass);
    wait_for("east passive at west's epoch or newer", WAIT, || {
        let (Some(e), Some(w)) = (
            mode_of(&p.east, "east-token-1"),
            mode_of(&p.west, "west-token-2"),
        ) else {
            return None;
        };
        (e.0 == Mode::Passive && w.0 == Mode::Active && e.1 >= w.1).then_some(())
    });
    assert!(
        proxy.count("PUT", "/mode", Outcome::Forwarded) >= 1,
        "east was not demoted through its admin API: {:?}",
        proxy.requests()
    );
    wait_with_traffic_on_west(&p, "Degraded no longer StraySite", |st| {
        condition(st, "Degraded")["reason"] != "StraySite" && st["sites"][0]["mode"] == "Passive"
    });
    assert_eq!(p.slice_addresses(), json!([WEST_TRAFFIC]));
}

/// The pairs' contact window in the force-past test.
const FORCE_PAST_WINDOW: Duration = Duration::from_secs(2);

/// The user the API server names the test's kubeconfig as (SelfSubjectReview).
fn who_am_i(p: &Pair) -> String {
    let out = p.ns.kubectl(&["auth", "whoami", "-o", "json"]);
    let review: Value = serde_json::from_str(&out).expect("a SelfSubjectReview");
    review["status"]["userInfo"]["username"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn blocked_by_failing_site(st: &Value) -> bool {
    let c = condition(st, "PromotionBlocked");
    c["status"] == "True" && c["reason"] == "SiteFailing"
}

#[test]
fn a_person_can_force_past_an_old_active_that_answers_500_and_it_is_recorded_with_who() {
    let (p, proxy) = pair_with_east_behind_a_proxy("silence-force-past", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "2s"});
    });
    // East answers every call with 500: alive, its role unknown, and it
    // cannot be demoted.
    proxy.set(Behaviour::Fail500);
    wait_for("the operator to get a 500 from east", WAIT, || {
        (proxy.count("GET", "", Outcome::Failed) >= 1).then_some(())
    });
    p.promote("west");
    p.wait_status("PromotionBlocked (SiteFailing)", blocked_by_failing_site);
    // Blocked, not forced, for two contact windows and more, while the
    // operator keeps asking east.
    let asked = proxy.count("GET", "/mode", Outcome::Failed);
    let until = Instant::now() + 2 * FORCE_PAST_WINDOW + 2 * HEALTH_INTERVAL;
    while Instant::now() < until {
        let st = p.status();
        assert!(blocked_by_failing_site(&st), "no longer blocked: {st}");
        assert_eq!(st["activeSite"], "east", "{st}");
        assert_ne!(st["promotion"]["forced"], true, "forced past east: {st}");
        assert_eq!(
            mode_of(&p.west, "west-token-2"),
            Some((Mode::Passive, 1)),
            "west made active while east answers"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        proxy.count("GET", "/mode", Outcome::Failed) >= asked + 2,
        "the operator stopped asking east"
    );
    assert!(p.events("PromotionForced").is_empty());
    assert!(p.events("ForcedPastAnsweringSite").is_empty());

    // A person who knows east is broken names it at the epoch status shows.
    let st = p.status();
    assert_eq!(st["sites"][0]["name"], "east", "{st}");
    let east_epoch = st["sites"][0]["epoch"]
        .as_i64()
        .expect("east's epoch in status");
    let user = who_am_i(&p);
    assert!(!user.is_empty(), "the API server names no user");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["promote", "gis", "--to", "west", "-n", &p.ns.name])
        .args(["--force-past", &format!("east@{east_epoch}")])
        .args(["--wait", "--timeout", "60s"])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair promote");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("forcing past east@{east_epoch} as user {user}")),
        "{text}"
    );
    let st = p.wait_status("the promotion to west to complete", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let rec = last_record(&st);
    assert_eq!(
        (
            rec["from"].as_str(),
            rec["to"].as_str(),
            rec["forced"].as_bool()
        ),
        (Some("east"), Some("west"), Some(true)),
        "{st}"
    );
    let by = rec["forcedBy"].as_str().unwrap_or_default();
    println!("forcedBy: {by}");
    assert!(
        by.contains(&format!("(past east at epoch {east_epoch})")),
        "forcedBy {by:?}"
    );
    assert!(by.contains(&user), "forcedBy {by:?} does not name {user}");
    let epoch = st["epoch"].as_i64().expect("status.epoch");
    assert_eq!(rec["epoch"], epoch, "{st}");
    assert!(epoch > east_epoch, "{st}");
    let notes = p.events("ForcedPastAnsweringSite");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("past site east") && n.contains(&user)),
        "{notes:?}"
    );
    assert_eq!(
        mode_of(&p.west, "west-token-2"),
        Some((Mode::Active, epoch))
    );
    wait_for("traffic on west", WAIT, || {
        (p.slice_addresses() == json!([WEST_TRAFFIC])).then_some(())
    });
    // East, which never heard of it, still thinks it is active.
    assert_eq!(
        mode_of(&p.east, "east-token-1"),
        Some((Mode::Active, east_epoch))
    );

    // East answers again: demoted at the new epoch; traffic stays on west.
    proxy.set(Behaviour::Pass);
    wait_for("east passive at the new epoch", WAIT, || {
        (mode_of(&p.east, "east-token-1") == Some((Mode::Passive, epoch))).then_some(())
    });
    wait_with_traffic_on_west(&p, "east shown passive, no stray", |st| {
        st["sites"][0]["mode"] == "Passive"
            && st["sites"][0]["epoch"] == epoch
            && condition(st, "Degraded")["reason"] != "StraySite"
    });
    assert_eq!(
        mode_of(&p.west, "west-token-2"),
        Some((Mode::Active, epoch))
    );
}
