//! `sitehapair diff` on a pull-request checkout against live sites, and
//! `sitehapair validate` on a broken one.

use std::process::Command;
use std::time::Duration;

use crate::support::syncbed::{SyncBed, service};
use crate::support::testbed;

fn sitehapair(args: &[&str], namespace: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .args(["--namespace", namespace])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

#[test]
fn diff_prints_the_change_per_site_and_exits_by_outcome() {
    let mut bed = SyncBed::new("diff-cli", &[("roads", 1), ("parcels", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    bed.wait_in_sync(&rev, Duration::from_secs(45));
    let pair_file = bed.dir.path().join("pair.yaml");
    std::fs::write(&pair_file, pair.to_string()).expect("write pair file");
    let work = bed.repo.work.to_str().expect("utf-8").to_string();
    let pf = pair_file.to_str().expect("utf-8").to_string();
    let ns = bed.ns.name.clone();

    // Unchanged checkout: exit 0.
    let out = sitehapair(&["diff", "--pair", &pf, "--checkout", &work], &ns);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("=== site east: 0 to create, 0 to replace, 0 to delete"),
        "{text}"
    );

    // A pull-request checkout: one service changed (with a new password), one removed.
    bed.repo.git(&["checkout", "--quiet", "-b", "pr/roads-v2"]);
    let changed = service("roads", 2).replace("pw-roads-secret", "pw-roads-rotated");
    bed.repo.write("services/roads.yaml", &changed);
    bed.repo.remove("services/parcels.yaml");
    let out = sitehapair(&["diff", "--pair", &pf, "--checkout", &work], &ns);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for site in ["east", "west"] {
        assert!(
            text.contains(&format!(
                "=== site {site}: 0 to create, 1 to replace, 1 to delete"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("--- a/{site}/roads")), "{text}");
    }
    assert!(
        text.contains("-  \"version\": 1") && text.contains("+  \"version\": 2"),
        "{text}"
    );
    assert!(text.contains("*** (masked)"), "{text}");
    assert!(
        !text.contains("pw-roads"),
        "a secret value was printed:\n{text}"
    );

    // A broken checkout: validate says where, diff cannot tell (exit 2).
    bed.repo.write("services/bad.yaml", "name: [unclosed\n");
    let out = sitehapair(&["diff", "--pair", &pf, "--checkout", &work], &ns);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("services/bad.yaml:"));
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["validate", &work, "--path", "services"])
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("services/bad.yaml:"));
}
