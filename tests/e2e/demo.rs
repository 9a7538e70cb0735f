//! README's demo commands run to their end with no step by hand (each
//! starts its own control plane, sites, repository and operator, and tears
//! them down): `scripts/demo.sh` and `scripts/demo.sh --adopt`. One test,
//! the two in turn: they use the same ports and repository path.

use std::process::Command;

use crate::support::{repo_root, without_package_env};

/// Run the demo with `args` to its end; its whole output.
fn demo(args: &[&str]) -> String {
    // The demo's set-up runs `cargo build` of what it uses.
    let out = without_package_env(&mut Command::new(repo_root().join("scripts/demo.sh")))
        .args(args)
        .env("SITEHAPAIR_DEMO_EXIT", "1")
        .output()
        .expect("run scripts/demo.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the demo {args:?} failed:\n{text}");
    assert!(
        !std::path::Path::new("/tmp/sitehapair-demo").exists(),
        "the demo {args:?} left its repository"
    );
    text
}

fn expect_all(text: &str, lines: &[&str]) {
    for expect in lines {
        assert!(
            text.contains(expect),
            "{expect:?} missing from the demo:\n{text}"
        );
    }
}

#[test]
fn the_demo_and_the_adoption_demo_run_to_their_end() {
    expect_all(
        &demo(&[]),
        &[
            "gis    east     Ready",
            "both sites hold ",
            "Complete: west is active at epoch 2",
            "traffic after: [\"192.0.2.20\"]",
            "demo: torn down",
        ],
    );
    expect_all(
        &demo(&["--adopt"]),
        &[
            "exported 3 services from site east",
            "- site west differs from east: 1 (hydrants) only on east, 1 (streetlights) only on west",
            "check exited 1",
            "adoption of west waits",
            "  delete  streetlights",
            "both sites hold ",
            "west now: hydrants, parcels, roads",
            "service writes east received in all: 3 (the 3 by hand before the export; none from the pair)",
            "demo: torn down",
        ],
    );
}
