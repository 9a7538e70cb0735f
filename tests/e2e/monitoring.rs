//! Monitoring as users get it: the chart's PrometheusRule (off by default)
//! rendered with helm and checked with promtool (`check rules`, and `test
//! rules` with a firing case for every alert); and the per-pair metrics of
//! a running pair on the real control plane: site up and active, epochs,
//! the promotion phase, promotions by kind, the wait for a silent old
//! active, and no series left once the pair is deleted.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::helm::helm;
use crate::support::operator::Operator;
use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::{ok, repo_root, testbed, wait_for};

const FIXTURE: &str = "tests/e2e/fixtures/prometheusrule-tests.yaml";

/// The chart rendered as the fixture expects it (release sitehapair in
/// sitehapair-system), with `extra` values; one YAML document per object.
fn render(extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "sitehapair",
        "charts/sitehapair",
        "--namespace",
        "sitehapair-system",
        "--kube-version",
        "v1.36.0",
    ];
    args.extend_from_slice(extra);
    let text = ok(helm(&args, &testbed().kubeconfig), "helm template");
    serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    let bin = testbed().bin.join("promtool");
    assert!(
        bin.exists(),
        "{} is missing: run tests/testbed/testbed build",
        bin.display()
    );
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool")
}

/// Alert names of rule groups.
fn alert_names(groups: &Value) -> Vec<String> {
    let mut names: Vec<String> = groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn the_prometheus_rule_is_off_by_default_and_passes_promtool_with_a_case_for_each_alert() {
    let kind = |docs: &[Value]| {
        docs.iter()
            .filter(|d| d["kind"] == "PrometheusRule")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(kind(&render(&[])).is_empty(), "a PrometheusRule by default");
    let installed = std::fs::read_to_string(repo_root().join("manifests/install.yaml"))
        .expect("manifests/install.yaml");
    assert!(!installed.contains("kind: PrometheusRule"));

    let rules = kind(&render(&["--set", "metrics.prometheusRule.enabled=true"]));
    assert_eq!(rules.len(), 1, "one PrometheusRule");
    let groups = rules[0]["spec"]["groups"].clone();
    let names = alert_names(&groups);
    assert_eq!(
        names,
        [
            "SiteHAPairActiveSiteDown",
            "SiteHAPairNotReady",
            "SiteHAPairOperatorNotLeading",
            "SiteHAPairParityBroken",
            "SiteHAPairPassiveSiteUnhealthy",
            "SiteHAPairStraySite",
            "SiteHAPairTwoSitesActive",
            "SiteHAPairWaitingForOldActive",
        ]
    );
    for rule in groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
    {
        let a = &rule["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(a[key].is_string(), "{} has no {key}", rule["alert"]);
        }
        assert!(
            ["critical", "warning"].contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{} has no severity",
            rule["alert"]
        );
        assert!(rule["for"].is_string(), "{} has no for:", rule["alert"]);
    }

    // Every alert has a case in which it fires.
    let fixture = std::fs::read_to_string(repo_root().join(FIXTURE)).expect("fixture");
    let cases: Value = serde_yaml_ng::from_str(&fixture).expect("fixture yaml");
    let mut firing: Vec<String> = cases["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .filter(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .filter_map(|c| c["alertname"].as_str().map(str::to_string))
        .collect();
    firing.sort();
    firing.dedup();
    assert_eq!(firing, names, "alerts without a firing test case");

    let dir = tempfile::tempdir().expect("tempdir");
    let rules_file = json!({"groups": groups});
    std::fs::write(dir.path().join("rules.yaml"), rules_file.to_string()).expect("rules");
    std::fs::write(dir.path().join("tests.yaml"), &fixture).expect("tests");
    let check = promtool(&["check", "rules", "rules.yaml"], dir.path());
    let out = ok(check, "promtool check rules");
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    let test = promtool(&["test", "rules", "tests.yaml"], dir.path());
    let out = ok(test, "promtool test rules");
    assert!(out.contains("SUCCESS"), "{out}");

    // The same cases fail against rules that lost an alert: the test
    // exercises the rules, it does not pass on anything.
    let mut broken = groups.clone();
    if let Some(rules) = broken[0]["rules"].as_array_mut() {
        rules.retain(|r| r["alert"] != "SiteHAPairPassiveSiteUnhealthy");
    }
    std::fs::write(
        dir.path().join("rules.yaml"),
        json!({"groups": broken}).to_string(),
    )
    .expect("rules");
    let test = promtool(&["test", "rules", "tests.yaml"], dir.path());
    assert!(!test.status.success(), "promtool passed without the alert");
}

/// The value of one series (name and labels exactly as rendered).
fn sample(op: &Operator, series: &str) -> Option<f64> {
    let text = op.http_get("/metrics")?;
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn site(metric: &str, ns: &str, site: &str) -> String {
    format!("sitehapair_{metric}{{namespace=\"{ns}\",pair=\"gis\",site=\"{site}\"}}")
}

fn pair(metric: &str, ns: &str) -> String {
    format!("sitehapair_{metric}{{namespace=\"{ns}\",pair=\"gis\"}}")
}

fn phase(ns: &str, p: &str) -> String {
    format!("sitehapair_promotion_phase{{namespace=\"{ns}\",pair=\"gis\",phase=\"{p}\"}}")
}

fn kind(ns: &str, k: &str) -> String {
    format!("sitehapair_promotions_total{{namespace=\"{ns}\",pair=\"gis\",kind=\"{k}\"}}")
}

/// Wait until every series has its value; on timeout, name those that differ.
fn wait_metrics(op: &Operator, what: &str, want: &[(String, f64)]) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let off: Vec<String> = want
            .iter()
            .filter_map(|(s, v)| {
                let got = sample(op, s);
                (got != Some(*v)).then(|| format!("{s}: want {v}, got {got:?}"))
            })
            .collect();
        if off.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            off.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_running_pair_exports_its_state_counts_a_planned_promotion_and_leaves_no_series() {
    let p = Pair::start("mon-planned", |_| {});
    let op = p.op.as_ref().expect("operator");
    let ns = p.ns.name.as_str();
    wait_metrics(
        op,
        "the metrics of east active at epoch 1",
        &[
            (site("site_up", ns, "east"), 1.0),
            (site("site_up", ns, "west"), 1.0),
            (site("site_active", ns, "east"), 1.0),
            (site("site_active", ns, "west"), 0.0),
            (site("site_reports_active", ns, "east"), 1.0),
            (site("site_reports_active", ns, "west"), 0.0),
            (site("site_epoch", ns, "east"), 1.0),
            (site("site_epoch", ns, "west"), 1.0),
            (pair("pair_epoch", ns), 1.0),
            (pair("pair_ready", ns), 1.0),
            // No source: nothing compared.
            (pair("pair_in_sync", ns), -1.0),
            // Same version, but the fingerprint is not in status: unknown.
            (pair("pair_parity", ns), -1.0),
            (phase(ns, "None"), 1.0),
            (phase(ns, "Preflight"), 0.0),
            // Both sites answered: activated without a promotion record.
            (kind(ns, "initial"), 0.0),
            (kind(ns, "planned"), 0.0),
        ],
    );

    p.promote("west");
    p.wait_status("west active at epoch 2", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null() && st["epoch"] == 2
    });
    wait_metrics(
        op,
        "the metrics of west active at epoch 2",
        &[
            (kind(ns, "planned"), 1.0),
            (kind(ns, "forced"), 0.0),
            (kind(ns, "automatic"), 0.0),
            (kind(ns, "initial"), 0.0),
            (site("site_active", ns, "east"), 0.0),
            (site("site_active", ns, "west"), 1.0),
            (site("site_reports_active", ns, "west"), 1.0),
            (site("site_epoch", ns, "east"), 2.0),
            (site("site_epoch", ns, "west"), 2.0),
            (pair("pair_epoch", ns), 2.0),
            (phase(ns, "None"), 1.0),
        ],
    );
    // No wait for an old active that answered.
    assert_eq!(sample(op, &pair("old_active_wait_seconds_count", ns)), None);

    // The pair goes: so do its series.
    p.ns.kubectl(&["delete", "shp", "gis", "--wait=true", "--timeout=60s"]);
    wait_for("no series of the deleted pair", WAIT, || {
        let text = op.http_get("/metrics")?;
        (!text.contains("pair=\"gis\"")).then_some(())
    });
    assert!(
        op.http_get("/metrics")
            .is_some_and(|t| t.contains("sitehapair_reconciles_total")),
        "the operator's own metrics went too"
    );
}

#[test]
fn a_forced_promotion_is_counted_with_its_wait_for_the_silent_old_active() {
    let p = Pair::start("mon-forced", |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "6s"});
    });
    let op = p.op.as_ref().expect("operator");
    let ns = p.ns.name.as_str();
    p.east.signal("STOP");
    p.promote("west");
    // While it waits: east is still the pair's active site, does not
    // answer, and the phase says so.
    wait_metrics(
        op,
        "the metrics of a promotion waiting for east",
        &[
            (phase(ns, "WaitingForOldActive"), 1.0),
            (phase(ns, "None"), 0.0),
            (site("site_active", ns, "east"), 1.0),
            (site("site_reports_active", ns, "east"), 0.0),
            (pair("pair_ready", ns), 0.0),
        ],
    );
    let st = p.wait_status("the forced promotion", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    assert_eq!(st["history"][0]["forced"], true, "{st}");
    wait_metrics(
        op,
        "the metrics of the forced promotion",
        &[
            (kind(ns, "forced"), 1.0),
            (kind(ns, "planned"), 0.0),
            (pair("old_active_wait_seconds_count", ns), 1.0),
            (phase(ns, "WaitingForOldActive"), 0.0),
            (site("site_active", ns, "west"), 1.0),
            (site("site_up", ns, "east"), 0.0),
        ],
    );
    // The wait ran from the start of the first trip that found east silent
    // to the end of the trip that forced: at least the window (6 s), and
    // each trip with a stopped site lasts up to its GET /mode timeout
    // (15 s), so two such trips and the requeue between them.
    let waited = sample(op, &pair("old_active_wait_seconds_sum", ns)).unwrap_or(0.0);
    assert!(
        (6.0..=45.0).contains(&waited),
        "waited {waited} s for a 6 s contact window"
    );
    p.east.signal("CONT");
    wait_for("east back up", Duration::from_secs(45), || {
        (sample(op, &site("site_up", ns, "east")) == Some(1.0)).then_some(())
    });
}
