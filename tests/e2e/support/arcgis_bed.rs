//! `ArcGisBed`: a pair of two emulated ArcGIS Server sites (east active)
//! with their account Secrets and an operator, and the lookups the ArcGIS
//! tests assert on: status, role records, traffic, credentials kept out of
//! sight.

use std::time::Duration;

use serde_json::{Value, json};

use super::arcgis::{ArcGisEmulator, USERNAME};
use super::operator::Operator;
use super::pair::{set_active_site, slice_addresses};
use super::secrets::{create_secret, put_secret};
use super::status::pair_status;
use super::{Namespace, base_pair, condition, stderr, wait_for};

/// How long the ArcGIS tests wait for the operator.
pub const WAIT: Duration = Duration::from_secs(60);
/// The sites' account passwords, and the token key the two share.
pub const EAST_PASSWORD: &str = "east-Adm1n-pw-9f3c";
pub const WEST_PASSWORD: &str = "west-Adm1n-pw-7d21";
pub const SHARED_KEY: &str = "pair-shared-token-key-5e1b";

pub struct ArcGisBed {
    pub ns: Namespace,
    pub east: ArcGisEmulator,
    pub west: ArcGisEmulator,
    pub op: Operator,
    pub pair: Value,
    pub dir: tempfile::TempDir,
}

fn refs(f: &[String]) -> Vec<&str> {
    f.iter().map(String::as_str).collect()
}

/// Two emulated ArcGIS sites (east active), their account Secrets, an
/// operator, and a pair made by `shape` from the base ArcGIS pair.
pub fn start(
    prefix: &str,
    east_flags: &[&str],
    west_flags: &[&str],
    shape: impl FnOnce(&mut Value, &std::path::Path),
) -> ArcGisBed {
    let ns = Namespace::new(prefix);
    let dir = tempfile::tempdir().expect("tempdir");
    // Sites of one pair share their token key, as the GIS procedure asks
    // (an emulator given no key makes a random one, as a new site does).
    let with_key = |flags: &[&str]| -> Vec<String> {
        let mut f: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        if !flags.contains(&"--shared-key") {
            f.extend(["--shared-key".to_string(), SHARED_KEY.to_string()]);
        }
        f
    };
    let (ef, wf) = (with_key(east_flags), with_key(west_flags));
    let east = ArcGisEmulator::start(dir.path(), "east", EAST_PASSWORD, &refs(&ef));
    let west = ArcGisEmulator::start(dir.path(), "west", WEST_PASSWORD, &refs(&wf));
    for (site, pw) in [("east", EAST_PASSWORD), ("west", WEST_PASSWORD)] {
        create_secret(
            &ns,
            &format!("{site}-admin"),
            &[("username", USERNAME), ("password", pw)],
        );
    }
    let mut pair = base_pair("gis");
    for (i, site) in [&east, &west].iter().enumerate() {
        pair["spec"]["sites"][i]["kind"] = json!("ArcGISServer");
        pair["spec"]["sites"][i]["adminUrl"] = json!(site.url);
    }
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    shape(&mut pair, dir.path());
    let op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "apply: {}", stderr(&out));
    ArcGisBed {
        ns,
        east,
        west,
        op,
        pair,
        dir,
    }
}

impl ArcGisBed {
    pub fn status(&self) -> Value {
        pair_status(&self.ns, "gis")
    }

    /// Wait for the status to satisfy `ok`; on a timeout, say what the
    /// status and the operator's last log lines were.
    pub fn wait(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let st = self.status();
            if ok(&st) {
                return st;
            }
            if std::time::Instant::now() > deadline {
                let logs = self.op.logs();
                let tail: Vec<&str> = logs.lines().rev().take(12).collect();
                panic!(
                    "timed out after {WAIT:?} waiting for {what}\nstatus: {st:#}\nlog tail: {tail:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_in_sync(&self, revision: &str) -> Value {
        self.wait(&format!("both sites in sync at {revision}"), |st| {
            let rows = st["sites"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            rows.len() == 2
                && rows.iter().all(|r| r["syncedRevision"] == revision)
                && condition(st, "InSync")["status"] == "True"
        })
    }

    /// The role record of a site: (mode, epoch).
    pub fn role(&self, site: &ArcGisEmulator) -> Option<(String, i64)> {
        let out = self.ns.kubectl_raw(&[
            "get",
            "configmaps",
            "-l",
            "sitehapair.io/role-record",
            "-o",
            "json",
        ]);
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        list["items"].as_array()?.iter().find_map(|cm| {
            (cm["metadata"]["annotations"]["sitehapair.io/admin-url"] == site.url.as_str()).then(
                || {
                    (
                        cm["data"]["mode"].as_str().unwrap_or_default().to_string(),
                        cm["data"]["epoch"]
                            .as_str()
                            .and_then(|e| e.parse().ok())
                            .unwrap_or(-1),
                    )
                },
            )
        })
    }

    pub fn wait_role(&self, site: &ArcGisEmulator, mode: &str, epoch: i64) {
        wait_for(
            &format!("{} {mode} at epoch {epoch} in its role record", site.name),
            WAIT,
            || (self.role(site) == Some((mode.to_string(), epoch))).then_some(()),
        );
    }

    pub fn traffic(&self) -> Value {
        slice_addresses(&self.ns)
    }

    /// Replace the account Secret of `site` with this password.
    pub fn set_password(&self, site: &str, password: &str) {
        put_secret(
            &self.ns,
            &format!("{site}-admin"),
            &[("username", USERNAME), ("password", password)],
        );
    }

    pub fn promote(&self, to: &str) {
        set_active_site(&self.ns, "gis", to);
    }

    /// No password or shared key in the operator's log, the pair's Events or its status.
    pub fn assert_no_credentials(&self) {
        let logs = self.op.logs();
        let events = self
            .ns
            .kubectl(&["get", "events.events.k8s.io", "-o", "json"]);
        let status = self.status().to_string();
        for pw in [EAST_PASSWORD, WEST_PASSWORD, SHARED_KEY] {
            assert!(!logs.contains(pw), "a credential in the operator's log");
            assert!(!events.contains(pw), "a credential in an Event");
            assert!(!status.contains(pw), "a credential in status");
        }
    }
}
