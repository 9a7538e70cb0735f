//! Promotion as a spec change, against reference sites as processes: a
//! planned promotion with a checker polling both sites the whole time,
//! preflight blocks, and an unplanned failover through the contact window.

use serde_json::json;

use crate::support::checker::Checker;
use crate::support::operator::{FAST_LEASE, Operator};
use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::syncbed::set_health;
use crate::support::wait_for;

#[test]
fn a_planned_promotion_switches_modes_epochs_traffic_and_status() {
    let p = Pair::start("promo-planned", |_| {});
    // Traffic follows the status the trip wrote, right after it.
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });
    let checker = Checker::start(&p.east, &p.west);
    p.promote("west");
    let st = p.wait_status("west active at epoch 2", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null() && st["history"][0]["to"] == "west"
    });
    let (samples, both) = checker.finish();
    assert!(samples > 10, "the checker took only {samples} samples");
    assert!(both.is_empty(), "both sites active at once: {both:?}");
    assert_eq!(st["epoch"], 2);
    let h = &st["history"][0];
    assert_eq!(
        (
            h["from"].as_str(),
            h["epoch"].as_i64(),
            h["forced"].as_bool()
        ),
        (Some("east"), Some(2), Some(false))
    );
    assert_eq!(h["reason"], "Manual");
    p.wait_status("site rows follow", |st| {
        st["sites"][0]["mode"] == "Passive"
            && st["sites"][0]["epoch"] == 2
            && st["sites"][1]["mode"] == "Active"
    });
    wait_for("traffic on west", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.20"])).then_some(())
    });
    assert!(
        p.events("Promoted")
            .iter()
            .any(|n| n.starts_with("west is the active site at epoch 2"))
    );
    let cond = st["conditions"].as_array().expect("conditions");
    assert!(
        cond.iter()
            .any(|c| c["type"] == "Promoting" && c["status"] == "False")
    );
}

#[test]
fn preflight_blocks_an_unhealthy_target_until_it_recovers() {
    let p = Pair::start("promo-preflight", |_| {});
    set_health(&p.west, "west-token-2", false);
    p.wait_status("west seen unhealthy", |st| {
        st["sites"][1]["health"] == "Unhealthy"
    });
    p.promote("west");
    let st = p.wait_status("PromotionBlocked", |st| {
        st["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "PromotionBlocked" && c["status"] == "True")
        })
    });
    let blocked = st["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PromotionBlocked"))
        .cloned()
        .unwrap_or_default();
    assert!(
        blocked["message"]
            .as_str()
            .unwrap_or("")
            .contains("healthy: site west fails its health check"),
        "{blocked}"
    );
    assert_eq!(st["promotion"]["phase"], "Preflight");
    assert_eq!(st["activeSite"], "east");
    // Traffic follows the status the trip wrote, right after it.
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });

    set_health(&p.west, "west-token-2", true);
    p.wait_status("the promotion to complete", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
}

#[test]
fn an_unreachable_active_is_waited_for_then_forced_and_fenced_on_return() {
    let p = Pair::start("promo-forced", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "6s"});
    });
    p.east.signal("STOP");
    p.promote("west");
    let st = p.wait_status("WaitingForOldActive", |st| {
        st["phase"] == "WaitingForOldActive"
    });
    assert_eq!(st["promotion"]["phase"], "WaitingForOldActive");
    assert!(st["promotion"]["deadline"].is_string(), "{st}");
    // Traffic follows the status the trip wrote, right after it.
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });
    let st = p.wait_status("the forced promotion", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    assert_eq!(st["history"][0]["forced"], true);
    assert!(!p.events("PromotionForced").is_empty());
    wait_for("traffic on west", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.20"])).then_some(())
    });

    // The old active comes back still believing it is active at epoch 1.
    p.east.signal("CONT");
    p.wait_status("east demoted at epoch 2", |st| {
        st["sites"][0]["mode"] == "Passive" && st["sites"][0]["epoch"] == 2
    });
    assert!(
        p.events("Fenced")
            .iter()
            .any(|n| n.contains("site east reported active at epoch 1"))
    );
    assert_eq!(p.slice_addresses(), json!(["192.0.2.20"]));
}

#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "the crash switch is compiled only with --features failpoints (scripts/test.sh turns it on)"
)]
fn an_operator_killed_at_each_phase_is_resumed_by_the_next() {
    let mut p = Pair::start_with("promo-resume", |_| {}, &FAST_LEASE);
    let checker = Checker::start(&p.east, &p.west);
    // (target, the phase whose step the operator dies before, the phase
    // status holds then, the epoch): a demotion is recorded before it is
    // taken; the activation and the traffic switch go out on that record
    // (no write of their own), so status still says Demoting.
    let plan = [
        ("west", "Demoting", "Demoting", 2),
        ("east", "Promoting", "Demoting", 3),
        ("west", "SwitchingTraffic", "Demoting", 4),
    ];
    for (i, (to, phase, recorded, epoch)) in plan.into_iter().enumerate() {
        // This operator dies right before the step of `phase`.
        p.op = None;
        let mut doomed = Operator::start_env(
            &p.ns.name,
            &format!("doomed-{i}"),
            &FAST_LEASE,
            &[("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE", phase)],
        );
        p.promote(to);
        let exit = doomed
            .wait_exit(WAIT)
            .expect("the operator to exit at its failpoint");
        assert_eq!(exit.code(), Some(86), "{}", doomed.logs());
        let st = p.status();
        assert_eq!(st["promotion"]["phase"], recorded, "{st}");
        assert_eq!(st["promotion"]["epoch"], epoch, "{st}");
        // A new operator resumes from the phase in status.
        p.op = Some(Operator::start(
            &p.ns.name,
            &format!("heir-{i}"),
            &FAST_LEASE,
        ));
        let st = p.wait_status(&format!("{to} active at epoch {epoch}"), |st| {
            st["activeSite"] == to && st["promotion"].is_null() && st["epoch"] == epoch
        });
        assert_eq!(st["history"].as_array().map(Vec::len), Some(i + 1));
        let addr = if to == "west" {
            "192.0.2.20"
        } else {
            "192.0.2.10"
        };
        wait_for(&format!("traffic on {to}"), WAIT, || {
            (p.slice_addresses() == json!([addr])).then_some(())
        });
    }
    let (samples, both) = checker.finish();
    assert!(samples > 10, "the checker took only {samples} samples");
    assert!(both.is_empty(), "both sites active at once: {both:?}");
}
