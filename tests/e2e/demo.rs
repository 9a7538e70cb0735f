//! README's demo command runs to its end with no step by hand (it starts
//! its own control plane, sites, repository and operator, and tears them down).

use std::process::Command;

use crate::support::{repo_root, without_package_env};

#[test]
fn the_demo_runs_to_its_end() {
    // The demo's set-up runs `cargo build --all-targets`.
    let out = without_package_env(&mut Command::new(repo_root().join("scripts/demo.sh")))
        .env("SITEHAPAIR_DEMO_EXIT", "1")
        .output()
        .expect("run scripts/demo.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the demo failed:\n{text}");
    for expect in [
        "gis    east     Ready",
        "both sites hold ",
        "Complete: west is active at epoch 2",
        "traffic after: [\"192.0.2.20\"]",
        "demo: torn down",
    ] {
        assert!(
            text.contains(expect),
            "{expect:?} missing from the demo:\n{text}"
        );
    }
    assert!(
        !std::path::Path::new("/tmp/sitehapair-demo").exists(),
        "the demo left its repository"
    );
}
