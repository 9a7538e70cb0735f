//! Parity between the sites (issue 11, item 2): a standby on another
//! product version, or with another token key, is not a standby. Each
//! site's version and token key fingerprint are shown in status and by
//! `sitehapair status`; the `Parity` condition says what differs (a site
//! that reports no fingerprint is unknown, never equal); a promotion to a
//! site that differs from the active is refused in preflight until the
//! allow-parity-mismatch annotation names it, and then it goes on with a
//! warning Event.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::operator::Operator;
use crate::support::secrets::token_secrets;
use crate::support::site::ReferenceSite;
use crate::support::status::wait_status;
use crate::support::syncbed::pair_for;
use crate::support::{Namespace, condition, stderr, testbed};

struct Bed {
    ns: Namespace,
    east: ReferenceSite,
    west: ReferenceSite,
    _op: Operator,
    _dir: tempfile::TempDir,
}

/// Two sites reporting these (version, fingerprint), east active.
fn start(prefix: &str, east: (&str, Option<&str>), west: (&str, Option<&str>)) -> Bed {
    let ns = Namespace::new(prefix);
    let dir = tempfile::tempdir().expect("tempdir");
    let args = |(v, k): (&str, Option<&str>)| {
        let mut a = vec!["--version".to_string(), v.to_string()];
        if let Some(k) = k {
            a.extend(["--token-key-fingerprint".to_string(), k.to_string()]);
        }
        a
    };
    let (ea, wa) = (args(east), args(west));
    fn refs(a: &[String]) -> Vec<&str> {
        a.iter().map(String::as_str).collect()
    }
    let east = ReferenceSite::start_with(dir.path(), "east", "east-token-1", &refs(&ea));
    let west = ReferenceSite::start_with(dir.path(), "west", "west-token-2", &refs(&wa));
    token_secrets(&ns);
    let mut pair = pair_for("gis", &east, &west);
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    let op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let bed = Bed {
        ns,
        east,
        west,
        _op: op,
        _dir: dir,
    };
    bed.wait("east active at epoch 1", |st| {
        st["activeSite"] == "east" && st["sites"][1]["mode"] == "Passive"
    });
    bed
}

impl Bed {
    fn wait(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_status(&self.ns, "gis", what, ok)
    }

    fn cli_status(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
            .args(["status", "gis", "-n", &self.ns.name])
            .env("KUBECONFIG", &testbed().kubeconfig)
            .output()
            .expect("sitehapair status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn mode_puts(&self) -> usize {
        [&self.east, &self.west]
            .iter()
            .map(|s| {
                s.requests()
                    .iter()
                    .filter(|r| r["method"] == "PUT" && r["path"] == "/mode")
                    .count()
            })
            .sum()
    }
}

#[test]
fn a_standby_on_another_version_is_shown_refused_and_promoted_only_when_named() {
    let bed = start(
        "parity-skew",
        ("11.1", Some("ab12cd")),
        ("11.3", Some("ab12cd")),
    );
    let st = bed.wait("Parity=False", |st| {
        condition(st, "Parity")["status"] == "False"
    });
    let parity = condition(&st, "Parity");
    assert_eq!(parity["reason"], "VersionSkew", "{parity}");
    assert!(
        parity["message"]
            .as_str()
            .unwrap_or_default()
            .contains("east 11.1, west 11.3"),
        "{parity}"
    );
    assert_eq!(st["sites"][0]["version"], "11.1");
    assert_eq!(st["sites"][1]["tokenKeyFingerprint"], "ab12cd");
    assert!(!bed.ns.events("ParityBroken").is_empty());
    let cli = bed.cli_status();
    assert!(cli.contains("parity: False (VersionSkew)"), "{cli}");
    assert!(cli.contains("11.3") && cli.contains("ab12cd"), "{cli}");

    // Promote to the skewed standby: refused, nothing done on any site.
    let puts = bed.mode_puts();
    bed.ns.kubectl(&[
        "patch",
        "shp",
        "gis",
        "--type=merge",
        "-p",
        r#"{"spec":{"activeSite":"west"}}"#,
    ]);
    let st = bed.wait("the promotion blocked on parity", |st| {
        condition(st, "PromotionBlocked")["reason"] == "ParityMismatch"
    });
    let msg = condition(&st, "PromotionBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("west runs version 11.3, the active east runs 11.1")
            && msg.contains("sitehapair.io/allow-parity-mismatch=west"),
        "{msg}"
    );
    assert_eq!(st["activeSite"], "east");
    assert_eq!(
        bed.mode_puts(),
        puts,
        "a site's mode was changed while blocked"
    );

    // The explicit override: the promotion goes on and says so.
    bed.ns.kubectl(&[
        "annotate",
        "shp",
        "gis",
        "sitehapair.io/allow-parity-mismatch=west",
    ]);
    bed.wait("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let notes = bed.ns.events("ParityOverridden");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("promoting to west over a parity mismatch")),
        "{notes:?}"
    );
}

#[test]
fn a_site_that_reports_no_token_key_is_unknown_not_equal() {
    let bed = start("parity-unknown", ("11.3", Some("ab12cd")), ("11.3", None));
    let st = bed.wait("Parity=Unknown", |st| {
        condition(st, "Parity")["status"] == "Unknown"
    });
    let parity = condition(&st, "Parity");
    assert_eq!(parity["reason"], "ParityUnknown");
    assert!(
        parity["message"]
            .as_str()
            .unwrap_or_default()
            .contains("west reports no token key fingerprint"),
        "{parity}"
    );
    assert!(st["sites"][1]["tokenKeyFingerprint"].is_null());
    let cli = bed.cli_status();
    let west = cli
        .lines()
        .find(|l| l.starts_with("west"))
        .unwrap_or_default();
    assert!(west.contains("unknown"), "{cli}");
}
