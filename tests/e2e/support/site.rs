//! A reference site (examples/reference-site.rs) run as a separate process
//! for one test, on a free loopback port; killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The built example binary; built once per test run so that plain
/// `cargo test` finds it fresh.
pub fn reference_site_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The same profile as this test binary, so that the example lands
        // beside the operator binary (release for the benchmarks).
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--example", "reference-site"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example reference-site");
        assert!(status.success(), "building the reference site failed");
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_sitehapair"));
        bin.parent()
            .expect("target dir")
            .join("examples/reference-site")
    })
    .clone()
}

pub struct ReferenceSite {
    child: Option<Child>,
    pub name: String,
    pub url: String,
    pub request_log: PathBuf,
}

impl ReferenceSite {
    /// Start a site keeping its files in `dir`.
    pub fn start(dir: &Path, name: &str, token: &str) -> Self {
        Self::start_on(dir, name, token, "127.0.0.1:0")
    }

    /// Start on a given address (to restart a site on the port it had).
    pub fn start_on(dir: &Path, name: &str, token: &str, listen: &str) -> Self {
        let state = dir.join(format!("{name}.state.json"));
        let request_log = dir.join(format!("{name}.requests.jsonl"));
        let mut child = Command::new(reference_site_bin())
            .args(["--listen", listen, "--name", name, "--token", token])
            .arg("--state")
            .arg(&state)
            .arg("--request-log")
            .arg(&request_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start reference-site");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read listening line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from reference-site: {first:?}"))
            .to_string();
        Self {
            child: Some(child),
            name: name.to_string(),
            url: format!("http://{addr}"),
            request_log,
        }
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The request log as (method, path, status) lines.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Send a signal (STOP, CONT) to the site's process.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let st = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .expect("kill");
            assert!(st.success(), "kill -{sig}");
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ReferenceSite {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}
