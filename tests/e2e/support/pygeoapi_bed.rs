//! `PygeoapiBed`: a pair of two real pygeoapi sites (east active), each
//! behind its authenticating front (east takes HTTP basic, west a bearer
//! token), the fronts' Secrets, a git repository of the example resources
//! and an operator; and the lookups the pygeoapi tests assert on: status,
//! role records, what each site serves, what each site's front passed on.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::git::GitRepo;
use super::operator::Operator;
use super::pair::set_active_site;
use super::pygeoapi::PygeoapiServer;
use super::pygeoapi_front::{Credential, Front};
use super::secrets::create_secret;
use super::status::pair_status;
use super::{Namespace, base_pair, condition, repo_root, stderr, wait_for};

/// How long the pygeoapi tests wait for the operator. A first sync writes
/// each resource after the reload of the one before (pygeoapi builds a
/// write from the configuration it runs), standby first: three resources
/// are six gunicorn reloads, each up to the driver's 10 s serve window
/// when the machine is loaded (a full test run on two cores took 60 s for
/// them once); the bound is a deadline, not a wait.
pub const WAIT: Duration = Duration::from_secs(150);
pub const EAST_PASSWORD: &str = "east-front-pw-4b1e";
pub const WEST_TOKEN: &str = "west-front-token-93ad";
/// The folder of resources in the test repository.
pub const PATH: &str = "resources";

/// One site: pygeoapi and its front.
pub struct GeoSite {
    pub name: String,
    pub server: PygeoapiServer,
    pub front: Front,
}

impl GeoSite {
    fn start(dir: &std::path::Path, name: &str, reload: bool, credential: Credential) -> Self {
        let server = PygeoapiServer::start(dir, name, reload);
        let front = Front::start(server.port, credential);
        Self {
            name: name.to_string(),
            server,
            front,
        }
    }

    fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(self.front.credential().curl_args())
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Replace a resource through the admin API, as a person would.
    pub fn admin_put(&self, id: &str, resource: &Value) -> String {
        let url = format!("{}/admin/config/resources/{id}", self.front.url);
        self.curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "--data",
            &resource.to_string(),
            &url,
        ])
    }

    /// What `/collections` lists: id to title.
    pub fn served(&self) -> BTreeMap<String, String> {
        let v: Value =
            serde_json::from_str(&self.curl(&[&format!("{}/collections?f=json", self.front.url)]))
                .unwrap_or(Value::Null);
        v["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["id"].as_str()?.to_string(),
                    c["title"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// The resources of the configuration file, as the admin API lists them.
    pub fn configured(&self) -> Value {
        serde_json::from_str(&self.curl(&[&format!("{}/admin/config/resources", self.front.url)]))
            .unwrap_or(Value::Null)
    }

    /// Writes the front passed on after `since` (unix ms).
    pub fn writes_since(&self, since: i64) -> Vec<(i64, String, String)> {
        self.front
            .writes()
            .into_iter()
            .filter(|w| w.0 > since)
            .collect()
    }
}

pub struct PygeoapiBed {
    pub ns: Namespace,
    pub east: GeoSite,
    pub west: GeoSite,
    pub op: Operator,
    pub repo: GitRepo,
    /// The pair as applied.
    pub pair: Value,
    /// The sites' folders and the repository, removed when dropped.
    pub _dir: tempfile::TempDir,
}

/// The example resources (examples/pygeoapi/resources/prod) in a new repository.
fn example_repo(dir: &std::path::Path) -> GitRepo {
    let repo = GitRepo::new(dir, "pygeoapi-resources");
    let examples = repo_root().join("examples/pygeoapi/resources/prod");
    for entry in std::fs::read_dir(&examples).expect("examples/pygeoapi/resources/prod") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        repo.write(
            &format!("{PATH}/{name}"),
            &std::fs::read_to_string(&path).expect("read"),
        );
    }
    repo.commit("the example pygeoapi resources");
    repo
}

/// Two pygeoapi sites (east active; west reloading only when
/// `west_reloads`), their fronts' Secrets, the example resources in git,
/// an operator, and the pair as `shape` leaves it.
pub fn start(prefix: &str, west_reloads: bool, shape: impl FnOnce(&mut Value)) -> PygeoapiBed {
    let ns = Namespace::new(prefix);
    let dir = tempfile::tempdir().expect("tempdir");
    let east = GeoSite::start(
        dir.path(),
        "east",
        true,
        Credential::Basic {
            username: "sitehapair".into(),
            password: EAST_PASSWORD.into(),
        },
    );
    let west = GeoSite::start(
        dir.path(),
        "west",
        west_reloads,
        Credential::Bearer(WEST_TOKEN.into()),
    );
    create_secret(
        &ns,
        "east-front",
        &[("username", "sitehapair"), ("password", EAST_PASSWORD)],
    );
    create_secret(&ns, "west-front", &[("token", WEST_TOKEN)]);
    let repo = example_repo(dir.path());
    let mut pair = base_pair("geo");
    for (i, (site, secret)) in [(&east, "east-front"), (&west, "west-front")]
        .iter()
        .enumerate()
    {
        pair["spec"]["sites"][i]["kind"] = json!("Pygeoapi");
        pair["spec"]["sites"][i]["adminUrl"] = json!(site.front.url);
        pair["spec"]["sites"][i]["credentialsSecretRef"] = json!({"name": secret});
    }
    pair["spec"]["source"] = json!({"git": {"url": repo.file_url(), "ref": {"branch": "main"}, "path": PATH, "interval": "5s"}});
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    shape(&mut pair);
    let op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "apply: {}", stderr(&out));
    PygeoapiBed {
        ns,
        east,
        west,
        op,
        repo,
        pair,
        _dir: dir,
    }
}

impl PygeoapiBed {
    pub fn status(&self) -> Value {
        pair_status(&self.ns, "geo")
    }

    /// Wait for the status to satisfy `ok`; on a timeout, say what the
    /// status and the operator's last log lines were.
    pub fn wait(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let st = self.status();
            if ok(&st) {
                return st;
            }
            if Instant::now() > deadline {
                let logs = self.op.logs();
                let tail: Vec<&str> = logs.lines().rev().take(12).collect();
                panic!(
                    "timed out after {WAIT:?} waiting for {what}\nstatus: {st:#}\nlog tail: {tail:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
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

    /// The titles git holds for the resources at HEAD: id to title.
    pub fn git_titles(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let folder = self.repo.work.join(PATH);
        for entry in std::fs::read_dir(&folder).expect("resources") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let v: Value = serde_yaml_ng::from_str(&text).expect("a resource");
            let id = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            out.insert(id, v["title"].as_str().unwrap_or_default().to_string());
        }
        out
    }

    /// Both sites serve exactly git's collections, with git's titles.
    pub fn wait_served_as_git(&self) {
        let want = self.git_titles();
        for site in [&self.east, &self.west] {
            wait_for(
                &format!("{} to serve git's collections {want:?}", site.name),
                WAIT,
                || (site.served() == want).then_some(()),
            );
        }
    }

    /// The role record of a site: (mode, epoch).
    pub fn role(&self, site: &GeoSite) -> Option<(String, i64)> {
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
            (cm["metadata"]["annotations"]["sitehapair.io/admin-url"] == site.front.url.as_str())
                .then(|| {
                    (
                        cm["data"]["mode"].as_str().unwrap_or_default().to_string(),
                        cm["data"]["epoch"]
                            .as_str()
                            .and_then(|e| e.parse().ok())
                            .unwrap_or(-1),
                    )
                })
        })
    }

    pub fn wait_role(&self, site: &GeoSite, mode: &str, epoch: i64) {
        wait_for(
            &format!("{} {mode} at epoch {epoch} in its role record", site.name),
            WAIT,
            || (self.role(site) == Some((mode.to_string(), epoch))).then_some(()),
        );
    }

    /// Commit and ask the operator to look at once (the annotation a
    /// webhook would stand for), not at the next interval.
    pub fn commit(&self, message: &str) -> String {
        let rev = self.repo.commit(message);
        let at = format!(
            "sitehapair.io/reconcile-requested-at={}",
            super::operator::free_port()
        );
        self.ns
            .kubectl(&["annotate", "shp", "geo", &at, "--overwrite"]);
        rev
    }

    pub fn promote(&self, to: &str) {
        set_active_site(&self.ns, "geo", to);
    }
}
