//! `kubectl sitehapair promote` and `status`: the binary installed as a
//! kubectl plugin; a dry run changes nothing; --wait prints every phase and
//! exits 0 at Complete, 1 with the reason when still blocked at --timeout.

use std::process::{Command, Output};

use crate::support::pair::Pair;
use crate::support::syncbed::set_health;
use crate::support::testbed;

/// `kubectl sitehapair ARGS` with the binary on PATH as kubectl-sitehapair.
fn plugin(dir: &std::path::Path, args: &[&str]) -> Output {
    let link = dir.join("kubectl-sitehapair");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sitehapair"), &link).expect("symlink");
    }
    let kubectl = testbed().bin.join("kubectl");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(kubectl)
        .arg("sitehapair")
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("kubectl sitehapair")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn promote_and_status_as_a_kubectl_plugin() {
    let p = Pair::start_with("promo-cli", |_| {}, &[]);
    let bin = tempfile::tempdir().expect("tempdir");
    let ns = p.ns.name.clone();

    let out = plugin(
        bin.path(),
        &["promote", "gis", "--to", "west", "--dry-run", "-n", &ns],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("preflight: every check passes"), "{t}");
    assert!(t.contains("Demoting: set east passive at epoch 2"), "{t}");
    assert!(t.contains("Promoting: set west active at epoch 2"), "{t}");
    assert!(t.contains("point traffic at west"), "{t}");
    let obj = p.ns.get_json("shp/gis").expect("pair");
    assert_eq!(
        obj["spec"]["activeSite"], "east",
        "the dry run changed the spec"
    );
    assert!(obj["status"]["history"].is_null());

    let out = plugin(
        bin.path(),
        &[
            "promote",
            "gis",
            "--to",
            "west",
            "--wait",
            "--timeout",
            "60s",
            "-n",
            &ns,
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // Every step from the record (the phases written on the way are
    // printed as the watch sees them, which a fast promotion may outrun).
    let order = [
        "  Preflight: ",
        "  Demoting: ",
        "  Promoting: ",
        "  SwitchingTraffic: ",
        "Complete: west is active at epoch 2",
    ];
    let mut at = 0;
    for step in order {
        let i = t[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} not printed in order:\n{t}"));
        at += i;
    }

    // Back to east while east is unhealthy: blocked, exit 1 with the reason.
    set_health(&p.east, "east-token-1", false);
    p.wait_status("east seen unhealthy", |st| {
        st["sites"][0]["health"] == "Unhealthy"
    });
    let out = plugin(
        bin.path(),
        &[
            "promote",
            "gis",
            "--to",
            "east",
            "--wait",
            "--timeout",
            "4s",
            "-n",
            &ns,
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("healthy: site east fails its health check"),
        "{t}"
    );

    let out = plugin(bin.path(), &["status", "gis", "-n", &ns]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("SITE") && t.contains("MODE") && t.contains("EPOCH"),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("west") && l.contains("Active")),
        "{t}"
    );
    assert!(t.contains("promotion: Preflight: west -> east"), "{t}");
    assert!(t.contains("east -> west epoch 2 Manual"), "{t}");
    assert!(
        t.contains("blocked: promotion of east waits: healthy: site east"),
        "{t}"
    );
}
