//! An ArcGIS Server emulator (examples/arcgis-emulator) run as a separate
//! process for one test, on a free loopback port; killed when dropped.
//! Its admin API is called here the way an administrator would, with
//! curl: a token from generateToken, then form-encoded POSTs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;

use serde_json::Value;

use super::site::{example_bin, spawn_listening};

/// The administrator account every emulator is started with.
pub const USERNAME: &str = "siteadmin";

fn emulator_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| example_bin("arcgis-emulator")).clone()
}

pub struct ArcGisEmulator {
    child: Option<Child>,
    pub name: String,
    /// The site root, http://ADDR/arcgis (a pair's adminUrl).
    pub url: String,
    pub password: String,
    pub request_log: PathBuf,
}

impl ArcGisEmulator {
    /// Start a site keeping its state in `dir`, with extra emulator flags.
    pub fn start(dir: &Path, name: &str, password: &str, extra: &[&str]) -> Self {
        let state = dir.join(format!("{name}.arcgis-state.json"));
        let request_log = dir.join(format!("{name}.arcgis-requests.jsonl"));
        let mut cmd = Command::new(emulator_bin());
        cmd.args(["--listen", "127.0.0.1:0", "--username", USERNAME])
            .arg("--state")
            .arg(&state)
            .arg("--request-log")
            .arg(&request_log)
            .args(extra)
            .env("ARCGIS_EMULATOR_PASSWORD", password);
        let (child, addr) = spawn_listening(&mut cmd, "arcgis-emulator");
        Self {
            child: Some(child),
            name: name.to_string(),
            url: format!("http://{addr}/arcgis"),
            password: password.to_string(),
            request_log,
        }
    }

    /// The request log, one JSON object per request.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The service writes it received, in order: (at ms, operation, path).
    pub fn writes(&self) -> Vec<(i64, String, String)> {
        const WRITES: &[&str] = &[
            "createService",
            "edit",
            "delete",
            "start",
            "stop",
            "createFolder",
        ];
        self.requests()
            .iter()
            .filter(|r| r["status"] == 200 && r["error_code"].is_null())
            .filter_map(|r| {
                let op = r["operation"].as_str()?;
                let path = r["path"].as_str()?;
                (WRITES.contains(&op) && path.starts_with("/admin/services")).then(|| {
                    (
                        r["at"].as_i64().unwrap_or(0),
                        op.to_string(),
                        path.to_string(),
                    )
                })
            })
            .collect()
    }

    /// How many tokens it issued.
    pub fn tokens_issued(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["operation"] == "generateToken" && r["error_code"].is_null())
            .count()
    }

    fn curl(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-X", "POST"]);
        for (k, v) in form {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// An admin call as an administrator makes it (token, f=json).
    pub fn admin(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let t = self.curl(
            "/admin/generateToken",
            &[
                ("username", USERNAME),
                ("password", &self.password),
                ("client", "requestip"),
                ("f", "json"),
            ],
        );
        let token = t["token"].as_str().unwrap_or_default().to_string();
        let mut form = form.to_vec();
        form.push(("f", "json"));
        form.push(("token", &token));
        self.curl(path, &form)
    }

    /// A service's admin JSON (`Folder/Name.Type`), Null when absent.
    pub fn service(&self, path: &str) -> Value {
        let v = self.admin(&format!("/admin/services/{path}"), &[]);
        if v["status"] == "error" {
            Value::Null
        } else {
            v
        }
    }

    /// A service's configuredState.
    pub fn state(&self, path: &str) -> String {
        self.admin(&format!("/admin/services/{path}/status"), &[])["configuredState"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The folders of the root.
    pub fn folders(&self) -> Vec<String> {
        self.admin("/admin/services", &[])["folders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect()
    }

    /// Set the shared token key (a test control, not ArcGIS).
    pub fn set_shared_key(&self, key: &str) {
        let out = Command::new("curl")
            .args(["-sf", "-X", "PUT", "-H", "Content-Type: application/json"])
            .args(["-d", &serde_json::json!({"sharedKey": key}).to_string()])
            .arg(format!(
                "{}/_control/shared-key",
                self.url.trim_end_matches("/arcgis")
            ))
            .status()
            .expect("curl");
        assert!(out.success(), "setting the shared key");
    }

    /// Send a signal (STOP, CONT) to the emulator's process.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let st = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .expect("kill");
            assert!(st.success(), "kill -{sig}");
        }
    }
}

impl Drop for ArcGisEmulator {
    fn drop(&mut self) {
        self.signal("CONT");
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
