//! Two operator replicas: exactly one holds the Lease and writes; SIGKILL it
//! and the other takes over within the lease duration.

use std::time::{Duration, Instant};

use crate::support::operator::{FAST_LEASE, Operator};
use crate::support::{Namespace, base_pair, stderr, wait_for};

#[test]
fn one_leader_writes_and_a_standby_takes_over_after_sigkill() {
    let ns = Namespace::new("leader");
    let a = Operator::start(&ns.name, "replica-a", &FAST_LEASE);
    let b = Operator::start(&ns.name, "replica-b", &FAST_LEASE);
    let out = ns.apply(&base_pair("pair").to_string());
    assert!(out.status.success(), "{}", stderr(&out));

    let a_leads = wait_for("exactly one leader", Duration::from_secs(30), || {
        match (
            a.metric("sitehapair_leader")?,
            b.metric("sitehapair_leader")?,
        ) {
            (x, y) if x == 1.0 && y == 0.0 => Some(true),
            (x, y) if x == 0.0 && y == 1.0 => Some(false),
            _ => None,
        }
    });
    let (mut leader, standby) = if a_leads { (a, b) } else { (b, a) };

    let lease = ns
        .get_json("lease/sitehapair-operator")
        .expect("lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], leader.identity.as_str());
    wait_for("status from the leader", Duration::from_secs(20), || {
        ns.get_json("sitehapair/pair")
            .filter(|o| o["status"]["observedGeneration"] == 1)
    });
    assert!(leader.metric("sitehapair_reconciles_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(
        standby.metric("sitehapair_reconciles_total"),
        Some(0.0),
        "the standby reconciled"
    );

    // SIGKILL the leader: it cannot release the Lease.
    leader.kill();
    let killed_at = Instant::now();
    wait_for("the standby to lead", Duration::from_secs(15), || {
        (standby.metric("sitehapair_leader") == Some(1.0)).then_some(())
    });
    let took = killed_at.elapsed();
    // Lease duration 5s, plus the standby's wait and release of an expired Lease.
    assert!(took < Duration::from_secs(10), "takeover took {took:?}");

    // The new leader writes status.
    ns.kubectl(&[
        "patch",
        "shp",
        "pair",
        "--type=merge",
        "-p",
        r#"{"spec":{"healthCheck":{"interval":"15s"}}}"#,
    ]);
    wait_for(
        "status from the new leader",
        Duration::from_secs(20),
        || {
            ns.get_json("sitehapair/pair")
                .filter(|o| o["status"]["observedGeneration"] == 2)
        },
    );
    let lease = ns
        .get_json("lease/sitehapair-operator")
        .expect("lease exists");
    assert_eq!(lease["spec"]["holderIdentity"], standby.identity.as_str());
}

#[test]
fn a_leader_whose_lease_is_taken_stops_at_once() {
    let ns = Namespace::new("usurp");
    let mut op = Operator::start(&ns.name, "replica-a", &FAST_LEASE);
    wait_for("leadership", Duration::from_secs(20), || {
        (op.metric("sitehapair_leader") == Some(1.0)).then_some(())
    });
    // Someone else takes the Lease for a minute.
    let renew = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let patch = format!(
        r#"{{"spec":{{"holderIdentity":"intruder","leaseDurationSeconds":60,"renewTime":"{renew}"}}}}"#
    );
    ns.kubectl(&[
        "patch",
        "lease",
        "sitehapair-operator",
        "--type=merge",
        "-p",
        &patch,
    ]);
    let status = op
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the old leader kept running: {}", op.logs()));
    assert!(
        !status.success(),
        "a leader that lost its Lease must exit non-zero"
    );
    assert!(op.logs().contains("stopped reconciling"), "{}", op.logs());
}
