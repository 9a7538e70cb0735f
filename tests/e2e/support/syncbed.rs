//! A whole sync setup for one test: a namespace, two reference sites (east
//! active, west passive) with their token Secrets, a git repository of
//! services, and an operator; plus the status lookups the tests assert on.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::git::GitRepo;
use super::operator::Operator;
use super::pair::set_active_site;
use super::secrets::token_secrets;
use super::site::ReferenceSite;
use super::status::pair_status;
use super::{Namespace, condition, stderr, wait_for};

pub struct SyncBed {
    pub ns: Namespace,
    pub east: ReferenceSite,
    pub west: ReferenceSite,
    pub repo: GitRepo,
    pub op: Option<Operator>,
    pub dir: tempfile::TempDir,
    pub name: String,
}

/// A service file body.
pub fn service(name: &str, version: i64) -> String {
    format!(
        "name: {name}\ntype: MapServer\nversion: {version}\nconnection:\n  user: gis\n  password: pw-{name}-secret\n"
    )
}

/// Two reference sites in `dir` (east and west) with their token Secrets in `ns`.
pub fn start_sites(ns: &Namespace, dir: &std::path::Path) -> (ReferenceSite, ReferenceSite) {
    start_sites_on(ns, dir, "127.0.0.1:0")
}

/// Like `start_sites`, the sites listening on `listen`.
pub fn start_sites_on(
    ns: &Namespace,
    dir: &std::path::Path,
    listen: &str,
) -> (ReferenceSite, ReferenceSite) {
    let east = ReferenceSite::start_on(dir, "east", "east-token-1", listen);
    let west = ReferenceSite::start_on(dir, "west", "west-token-2", listen);
    token_secrets(ns);
    (east, west)
}

/// A pair (no source) named `name` pointing at the two sites, east active.
pub fn pair_for(name: &str, east: &ReferenceSite, west: &ReferenceSite) -> Value {
    let mut pair = super::base_pair(name);
    pair["spec"]["sites"][0]["adminUrl"] = json!(east.url);
    pair["spec"]["sites"][1]["adminUrl"] = json!(west.url);
    pair
}

/// Two reference sites with their Secrets, and a pair pointing at them.
pub fn live_sites(
    ns: &Namespace,
    dir: &std::path::Path,
    name: &str,
) -> (ReferenceSite, ReferenceSite, Value) {
    let (east, west) = start_sites(ns, dir);
    let pair = pair_for(name, &east, &west);
    (east, west, pair)
}

impl SyncBed {
    /// Sites, Secrets and a repository with `services` committed on main
    /// under `services/`. The operator is not started yet.
    pub fn new(prefix: &str, services: &[(&str, i64)]) -> Self {
        Self::new_on(prefix, services, "127.0.0.1:0")
    }

    /// Like `new`, the sites listening on `listen`.
    pub fn new_on(prefix: &str, services: &[(&str, i64)], listen: &str) -> Self {
        Self::with_sites(prefix, services, |ns, dir| start_sites_on(ns, dir, listen))
    }

    /// Like `new_on`, east and west also serving clients on `clients`
    /// (east's, west's): their `client` addresses.
    pub fn new_serving_clients(
        prefix: &str,
        services: &[(&str, i64)],
        listen: &str,
        clients: [&str; 2],
    ) -> Self {
        Self::with_sites(prefix, services, |ns, dir| {
            let east = ReferenceSite::start_serving_clients(
                dir,
                "east",
                "east-token-1",
                listen,
                clients[0],
            );
            let west = ReferenceSite::start_serving_clients(
                dir,
                "west",
                "west-token-2",
                listen,
                clients[1],
            );
            token_secrets(ns);
            (east, west)
        })
    }

    /// Like `new`, the sites sending no ETag and ignoring If-None-Match
    /// (every listing whole, as ArcGIS Server's and pygeoapi's admin APIs).
    pub fn new_without_etags(prefix: &str, services: &[(&str, i64)]) -> Self {
        Self::with_sites(prefix, services, |ns, dir| {
            let east = ReferenceSite::start_with(dir, "east", "east-token-1", &["--no-etag"]);
            let west = ReferenceSite::start_with(dir, "west", "west-token-2", &["--no-etag"]);
            token_secrets(ns);
            (east, west)
        })
    }

    fn with_sites(
        prefix: &str,
        services: &[(&str, i64)],
        sites: impl FnOnce(&Namespace, &std::path::Path) -> (ReferenceSite, ReferenceSite),
    ) -> Self {
        let ns = Namespace::new(prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let (east, west) = sites(&ns, dir.path());
        let repo = GitRepo::new(dir.path(), "services");
        for (n, v) in services {
            repo.write(&format!("services/{n}.yaml"), &service(n, *v));
        }
        repo.commit("initial services");
        Self {
            ns,
            east,
            west,
            repo,
            op: None,
            dir,
            name: "gis".into(),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("operator-cache")
    }

    /// Start the operator for this namespace with its own cache.
    pub fn start_operator(&mut self, extra: &[&str]) {
        self.start_operator_env(extra, &[]);
    }

    /// Like `start_operator`, with environment (KUBECONFIG, say).
    pub fn start_operator_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let cache = self.cache_dir();
        let mut args = vec!["--cache-dir", cache.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        self.op = Some(Operator::start_env(&self.ns.name, "op", &args, env));
    }

    /// The pair, east active, following `url` on main under services/.
    pub fn pair(&self, url: &str) -> Value {
        let mut pair = pair_for(&self.name, &self.east, &self.west);
        pair["spec"]["source"] = json!({"git": {"url": url, "ref": {"branch": "main"}, "path": "services", "interval": "5s"}});
        pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
        pair
    }

    pub fn apply(&self, pair: &Value) {
        let out = self.ns.apply(&pair.to_string());
        assert!(out.status.success(), "apply: {}", stderr(&out));
    }

    /// Ask for a promotion: set spec.activeSite of the pair.
    pub fn set_active_site(&self, site: &str) {
        set_active_site(&self.ns, &self.name, site);
    }

    pub fn status(&self) -> Value {
        pair_status(&self.ns, &self.name)
    }

    pub fn condition(&self, type_: &str) -> Value {
        condition(&self.status(), type_)
    }

    /// Wait until both sites' status rows say `revision` and InSync is True.
    pub fn wait_in_sync(&self, revision: &str, timeout: Duration) {
        wait_for(
            &format!("both sites in sync at {revision}"),
            timeout,
            || {
                let st = self.status();
                let rows = st["sites"].as_array()?;
                let all = rows.len() == 2 && rows.iter().all(|r| r["syncedRevision"] == revision);
                let in_sync = st["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "InSync" && c["status"] == "True");
                (all && in_sync).then_some(())
            },
        );
    }

    /// Wait until a condition has this status and reason; returns its message.
    pub fn wait_condition(
        &self,
        type_: &str,
        status: &str,
        reason: &str,
        timeout: Duration,
    ) -> String {
        wait_for(&format!("{type_}={status} ({reason})"), timeout, || {
            let c = self.condition(type_);
            (c["status"] == status && c["reason"] == reason)
                .then(|| c["message"].as_str().unwrap_or_default().to_string())
        })
    }

    /// Event notes of the pair with this reason.
    pub fn events(&self, reason: &str) -> Vec<String> {
        self.ns.events(reason)
    }
}

/// Services of a reference site, through its state file's HTTP API.
pub fn site_services(site: &ReferenceSite, token: &str) -> Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}/services", site.url))
        .output()
        .expect("curl");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["services"].clone()
}

/// An authenticated `PUT <site><path>` with a JSON body; panics on failure.
fn site_put(site: &ReferenceSite, token: &str, path: &str, body: &str) {
    let out = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args(["-H", "Content-Type: application/json", "-d", body])
        .arg(format!("{}{path}", site.url))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "PUT {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set a site's health through its test control endpoint.
pub fn set_health(site: &ReferenceSite, token: &str, healthy: bool) {
    site_put(
        site,
        token,
        "/_control/health",
        &format!("{{\"healthy\": {healthy}}}"),
    );
}

/// Write one service on a site by hand (an out-of-band edit).
pub fn put_service(site: &ReferenceSite, token: &str, name: &str, body: &Value) {
    site_put(site, token, &format!("/services/{name}"), &body.to_string());
}

/// The times (seconds) of PUT or DELETE /services/... writes a site received.
pub fn service_write_times(site: &ReferenceSite) -> Vec<f64> {
    site.requests()
        .iter()
        .filter(|r| {
            (r["method"] == "PUT" || r["method"] == "DELETE")
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/services/"))
        })
        .filter_map(|r| r["time"].as_str()?.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond() as f64 / 1000.0)
        .collect()
}
