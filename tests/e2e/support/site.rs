//! A reference site (examples/reference-site.rs) run as a separate process
//! for one test, on a free loopback port, over HTTP or HTTPS; killed when
//! dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The built reference site; built once per test run so that plain
/// `cargo test` finds it fresh.
pub fn reference_site_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| example_bin("reference-site")).clone()
}

/// Build the example `name` (an example binary of this package) and give
/// its path.
pub fn example_bin(name: &str) -> PathBuf {
    // The same profile as this test binary, so that the example lands
    // beside the operator binary (release for the benchmarks).
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    super::without_package_env(&mut cmd);
    let status = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| panic!("run cargo build --example {name}: {e}"));
    assert!(status.success(), "building the example {name} failed");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sitehapair"));
    bin.parent()
        .expect("target dir")
        .join("examples")
        .join(name)
}

/// Start a server example that prints `listening on ADDR` as its first
/// line of stdout; the child and ADDR.
pub fn spawn_listening(cmd: &mut Command, what: &str) -> (Child, String) {
    let (child, mut addrs) = spawn_announcing(cmd, what, &["listening on "]);
    (child, addrs.remove(0))
}

/// Start a server example whose first lines of stdout are, in order, each
/// prefix followed by an address; the child and the addresses. Every line
/// the caller expects must be asked for here: stdout is closed after them,
/// and a later line would fail the example's print.
pub fn spawn_announcing(cmd: &mut Command, what: &str, prefixes: &[&str]) -> (Child, Vec<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let addrs = prefixes
        .iter()
        .map(|prefix| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read listening line");
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| {
                    panic!("unexpected line from {what} (want {prefix:?}): {line:?}")
                })
                .to_string()
        })
        .collect();
    (child, addrs)
}

pub struct ReferenceSite {
    child: Option<Child>,
    pub name: String,
    pub url: String,
    pub request_log: PathBuf,
    /// host:port of the client path, when started with `--client-listen`
    /// (the second line the site prints).
    pub client: Option<String>,
}

impl ReferenceSite {
    /// Start a site keeping its files in `dir`.
    pub fn start(dir: &Path, name: &str, token: &str) -> Self {
        Self::start_on(dir, name, token, "127.0.0.1:0")
    }

    /// Start on a given address (to restart a site on the port it had).
    pub fn start_on(dir: &Path, name: &str, token: &str, listen: &str) -> Self {
        Self::spawn(dir, name, token, listen, None)
    }

    /// Start serving HTTPS with a PEM certificate chain and key; the URL
    /// names `host` (which the certificate must hold) and the port.
    pub fn start_tls(
        dir: &Path,
        name: &str,
        token: &str,
        cert: &Path,
        key: &Path,
        host: &str,
    ) -> Self {
        Self::spawn(dir, name, token, "127.0.0.1:0", Some((cert, key, host)))
    }

    /// Start on `listen`, serving clients on `client_listen` (the
    /// reference site's client path: 200 from an active site, 503 from a
    /// passive one, both naming the site and its epoch).
    pub fn start_serving_clients(
        dir: &Path,
        name: &str,
        token: &str,
        listen: &str,
        client_listen: &str,
    ) -> Self {
        Self::spawn_with(
            dir,
            name,
            token,
            listen,
            None,
            &["--client-listen", client_listen],
        )
    }

    /// Start with extra reference-site flags (`--health-path P`, say;
    /// with `--client-listen ADDR`, `client` holds the address).
    pub fn start_with(dir: &Path, name: &str, token: &str, extra: &[&str]) -> Self {
        Self::spawn_with(dir, name, token, "127.0.0.1:0", None, extra)
    }

    /// Start with the client path (`--client-listen`) on a free loopback
    /// port too; its address is `client`.
    pub fn start_with_clients(dir: &Path, name: &str, token: &str) -> Self {
        Self::start_with(dir, name, token, &["--client-listen", "127.0.0.1:0"])
    }

    fn spawn(
        dir: &Path,
        name: &str,
        token: &str,
        listen: &str,
        tls: Option<(&Path, &Path, &str)>,
    ) -> Self {
        Self::spawn_with(dir, name, token, listen, tls, &[])
    }

    fn spawn_with(
        dir: &Path,
        name: &str,
        token: &str,
        listen: &str,
        tls: Option<(&Path, &Path, &str)>,
        extra: &[&str],
    ) -> Self {
        let state = dir.join(format!("{name}.state.json"));
        let request_log = dir.join(format!("{name}.requests.jsonl"));
        let mut cmd = Command::new(reference_site_bin());
        if let Some((cert, key, _)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        cmd.args(extra)
            .args(["--listen", listen, "--name", name, "--token", token])
            .arg("--state")
            .arg(&state)
            .arg("--request-log")
            .arg(&request_log);
        let mut prefixes = vec!["listening on "];
        if extra.contains(&"--client-listen") {
            prefixes.push("client listening on ");
        }
        let (child, mut addrs) = spawn_announcing(&mut cmd, "reference-site", &prefixes);
        let client = (addrs.len() > 1).then(|| addrs.remove(1));
        let addr = addrs.remove(0);
        let url = match tls {
            None => format!("http://{addr}"),
            Some((_, _, host)) => {
                let port = addr.rsplit_once(':').map_or("", |(_, p)| p);
                format!("https://{host}:{port}")
            }
        };
        Self {
            child: Some(child),
            name: name.to_string(),
            url,
            request_log,
            client,
        }
    }

    /// host:port of a site started over HTTP.
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

    /// Writes (PUT, POST, DELETE) the site received for services.
    pub fn service_writes(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r["method"] != "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/services"))
            })
            .count()
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
