//! The one-active promise on the real control plane: a site that answers,
//! even with 401, is never forced past; the contact window counts from the
//! first failed contact, not from the start of the promotion; a pair
//! re-created while a site is silent activates nobody until the window has
//! run out; and traffic during the wait follows spec.traffic.failover.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitehapair::sites::Mode;

use crate::support::drivers::mode_of;
use crate::support::operator::Operator;
use crate::support::pair::Pair;
use crate::support::secrets::put_secret;
use crate::support::site::ReferenceSite;
use crate::support::status::WAIT;
use crate::support::syncbed::{live_sites, set_health};
use crate::support::{Namespace, condition, stderr, wait_for};

fn ts(v: &Value) -> jiff::Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

#[test]
fn a_site_that_refuses_the_credentials_is_never_forced_past() {
    let p = Pair::start("cred-rotation", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "3s"});
    });
    // A token rotation done in the wrong order: east is alive, healthy,
    // active, and answers every call with 401.
    put_secret(&p.ns, "east-admin", &[("token", "rotated-too-early")]);
    p.promote("west");
    let st = p.wait_status("the promotion blocked on east's credentials", |st| {
        condition(st, "PromotionBlocked")["reason"] == "CredentialsRefused"
    });
    let blocked = condition(&st, "PromotionBlocked");
    let msg = blocked["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("site east") && msg.contains("never forced"),
        "{msg}"
    );
    assert!(
        !msg.contains("rotated-too-early"),
        "the token leaked: {msg}"
    );
    // Three windows later: still blocked, never forced, east still the one active.
    let until = Instant::now() + Duration::from_secs(9);
    while Instant::now() < until {
        let st = p.status();
        assert_ne!(
            st["promotion"]["forced"], true,
            "forced past a live site: {st}"
        );
        assert_eq!(st["activeSite"], "east", "{st}");
        assert_eq!(
            mode_of(&p.west, "west-token-2").map(|m| m.0),
            Some(Mode::Passive)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(mode_of(&p.east, "east-token-1"), Some((Mode::Active, 1)));
    assert!(
        p.events("PromotionBlocked")
            .iter()
            .any(|n| n.contains("refuses the credentials")),
        "{:?}",
        p.events("PromotionBlocked")
    );
    assert!(p.events("PromotionForced").is_empty());
    // The Secret is fixed: the promotion completes, planned, not forced.
    put_secret(&p.ns, "east-admin", &[("token", "east-token-1")]);
    let st = p.wait_status("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    assert_eq!(st["history"][0]["forced"], false, "{st}");
    assert_eq!(mode_of(&p.east, "east-token-1"), Some((Mode::Passive, 2)));
    assert_eq!(mode_of(&p.west, "west-token-2"), Some((Mode::Active, 2)));
}

#[test]
fn the_window_counts_from_the_first_failed_contact_after_a_preflight_wait() {
    let p = Pair::start("window-start", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "4s"});
    });
    set_health(&p.west, "west-token-2", false);
    p.wait_status("west unhealthy", |st| {
        st["sites"][1]["health"] == "Unhealthy"
    });
    p.promote("west");
    let st = p.wait_status("Preflight", |st| st["promotion"]["phase"] == "Preflight");
    let started = ts(&st["promotion"]["startedAt"]);
    // Longer in preflight than the whole window.
    wait_for("a preflight wait longer than the window", WAIT, || {
        (jiff::Timestamp::now().duration_since(started).as_secs() >= 6).then_some(())
    });
    p.east.signal("STOP");
    set_health(&p.west, "west-token-2", true);
    let st = p.wait_status("WaitingForOldActive", |st| {
        st["promotion"]["phase"] == "WaitingForOldActive"
    });
    let since = ts(&st["promotion"]["silentSince"]);
    let deadline = ts(&st["promotion"]["deadline"]);
    assert!(since.duration_since(started).as_secs() >= 6, "{st}");
    assert_eq!(deadline.duration_since(since).as_secs(), 4, "{st}");
    assert_ne!(st["promotion"]["forced"], true);
    let msg = st["promotion"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("east does not answer"), "{msg}");
    // status, the Event and `sitehapair status` tell the same deadline.
    let stamp = st["promotion"]["deadline"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        p.events("WaitingForOldActive")
            .iter()
            .any(|n| n.contains(&stamp)),
        "{:?}",
        p.events("WaitingForOldActive")
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["status", "gis", "-n", &p.ns.name])
        .env("KUBECONFIG", &crate::support::testbed().kubeconfig)
        .output()
        .expect("sitehapair status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("deadline {stamp}")) && text.contains("east does not answer"),
        "{text}"
    );
    let st = p.wait_status("the forced promotion", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let h = &st["history"][0];
    assert_eq!(h["forced"], true);
    assert!(ts(&h["completedAt"]) >= deadline, "{st}");
    p.east.signal("CONT");
}

#[test]
fn a_recreated_pair_activates_nobody_while_a_site_is_silent() {
    let ns = Namespace::new("recreate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut east, west, mut pair) = live_sites(&ns, dir.path(), "gis");
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    pair["spec"]["promotion"] = json!({"contactTimeout": "8s"});
    let _op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let status = |ns: &Namespace| {
        ns.get_json("shp/gis")
            .map(|o| o["status"].clone())
            .unwrap_or(Value::Null)
    };
    wait_for("east active at epoch 1", WAIT, || {
        (mode_of(&east, "east-token-1") == Some((Mode::Active, 1))
            && status(&ns)["promotion"].is_null()
            && status(&ns)["sites"][1]["epoch"] == 1)
            .then_some(())
    });
    // The pair goes away (the sites stay as they are), east goes silent,
    // and the pair comes back wishing for west.
    ns.kubectl(&["delete", "shp", "gis", "--wait=true", "--timeout=30s"]);
    let east_addr = east.addr().to_string();
    east.kill();
    pair["spec"]["activeSite"] = json!("west");
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let st = wait_for("the wait for east", WAIT, || {
        Some(status(&ns)).filter(|st| st["promotion"]["phase"] == "WaitingForOldActive")
    });
    let since = ts(&st["promotion"]["silentSince"]);
    let msg = st["promotion"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("no epoch is recorded") && msg.contains("east"),
        "{msg}"
    );
    assert!(st["activeSite"].is_null(), "{st}");
    // Nothing is made active inside the window.
    while jiff::Timestamp::now().duration_since(since).as_secs() < 7 {
        assert_eq!(
            mode_of(&west, "west-token-2").map(|m| m.0),
            Some(Mode::Passive)
        );
        assert!(status(&ns)["activeSite"].is_null());
        std::thread::sleep(Duration::from_millis(300));
    }
    let st = wait_for("west activated after the window", WAIT, || {
        Some(status(&ns)).filter(|st| st["activeSite"] == "west" && st["promotion"].is_null())
    });
    let h = &st["history"][0];
    assert_eq!(
        (h["reason"].as_str(), h["forced"].as_bool()),
        (Some("Initial"), Some(true))
    );
    assert_eq!(mode_of(&west, "west-token-2"), Some((Mode::Active, 2)));
    // east comes back believing it is active at epoch 1: it is fenced.
    east = ReferenceSite::start_on(dir.path(), "east", "east-token-1", &east_addr);
    wait_for("east demoted", WAIT, || {
        (mode_of(&east, "east-token-1") == Some((Mode::Passive, 2))).then_some(())
    });
}

/// Kill east during a promotion to west and return the traffic addresses
/// seen while the promotion waits, and the status then.
fn traffic_while_waiting(policy: &str) -> (Value, Value) {
    let p = Pair::start(&format!("traffic-{}", policy.to_lowercase()), |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "30s"});
        pair["spec"]["traffic"] = json!({"failover": policy});
    });
    p.east.signal("STOP");
    p.promote("west");
    let st = p.wait_status("WaitingForOldActive", |st| {
        st["promotion"]["phase"] == "WaitingForOldActive"
    });
    let expected = st["trafficSite"].clone();
    let addr = wait_for("the slice to follow status.trafficSite", WAIT, || {
        let a = p.slice_addresses();
        let want = if expected == "west" {
            "192.0.2.20"
        } else {
            "192.0.2.10"
        };
        (a == json!([want])).then_some(a)
    });
    let st = p.status();
    p.east.signal("CONT");
    (addr, st)
}

#[test]
fn immediate_traffic_moves_to_the_target_while_the_role_change_waits() {
    let (addr, st) = traffic_while_waiting("Immediate");
    assert_eq!(addr, json!(["192.0.2.20"]));
    assert_eq!(st["trafficSite"], "west");
    assert_eq!(
        st["activeSite"], "east",
        "the role moved before fencing: {st}"
    );
    assert_eq!(st["promotion"]["phase"], "WaitingForOldActive");
}

/// The default policy (no spec.traffic.failover, as most pairs are
/// written): while the promotion waits for a silent old active, every
/// look at the EndpointSlice and at status.trafficSite, from the spec
/// change through several trips and health intervals of the wait, finds
/// the old active.
#[test]
fn by_default_traffic_stays_on_the_old_active_while_the_promotion_waits() {
    let mut p = Pair::start("traffic-default", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "120s"});
        if let Some(spec) = pair["spec"].as_object_mut() {
            spec.remove("traffic");
        }
    });
    // Nothing was said: the API server filled in the default.
    let applied = p.ns.get_json("shp/gis").expect("pair");
    assert_eq!(
        applied["spec"]["traffic"]["failover"], "WaitForPromotion",
        "the default filled in: {}",
        applied["spec"]
    );
    // Traffic follows the status the trip wrote, right after it.
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });
    let health_interval = Duration::from_secs(1);
    // Each trip asks west its mode: that count tells how many trips have
    // decided the wait.
    let trips = |west: &ReferenceSite| {
        west.requests()
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/mode")
            .count()
    };
    // East goes away (its admin API refuses connections: silence).
    p.east.kill();
    p.promote("west");
    // Sample every 200 ms from the spec change until the promotion has
    // waited for east through at least five health intervals and four
    // more trips (far inside the 120 s window).
    let mut waiting: Option<(Instant, usize)> = None;
    let (mut samples, mut in_wait) = (0, 0);
    let mut opened = false;
    let started = Instant::now();
    while waiting.is_none_or(|(t, n)| t.elapsed() < health_interval * 5 || trips(&p.west) < n + 4) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no wait of five health intervals and four trips: {}",
            p.status()
        );
        let st = p.status();
        let addr = p.slice_addresses();
        samples += 1;
        assert_eq!(
            addr,
            json!(["192.0.2.10"]),
            "sample {samples}: traffic left the old active during the wait: {st}"
        );
        assert_eq!(
            st["trafficSite"], "east",
            "sample {samples}: status.trafficSite left the old active: {st}"
        );
        assert_eq!(st["activeSite"], "east", "sample {samples}: {st}");
        // Before the operator has seen the spec change there is no
        // promotion yet; once opened, it stays open through the wait.
        opened |= !st["promotion"].is_null();
        assert!(
            !opened || !st["promotion"].is_null(),
            "sample {samples}: the promotion ended inside the window: {st}"
        );
        assert_ne!(st["promotion"]["forced"], true, "sample {samples}: {st}");
        if waiting.is_none() && st["promotion"]["phase"] == "WaitingForOldActive" {
            waiting = Some((Instant::now(), trips(&p.west)));
        }
        if waiting.is_some() {
            assert_eq!(
                st["promotion"]["phase"], "WaitingForOldActive",
                "sample {samples}: {st}"
            );
            in_wait += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(in_wait >= 5, "only {in_wait} samples during the wait");
}
