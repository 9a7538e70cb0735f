//! Test support: one real control plane per test run (tests/testbed/testbed),
//! a fresh namespace per test, kubectl, operator processes, and polling with
//! deadlines. Everything started here is stopped when the test ends or the
//! test process exits.

pub mod arcgis;
pub mod arcgis_bed;
pub mod checker;
pub mod client_record;
pub mod clients;
pub mod drivers;
pub mod git;
pub mod haproxy;
pub mod helm;
pub mod hostile_site;
pub mod http;
pub mod node;
pub mod operator;
pub mod pair;
pub mod proxy;
pub mod pygeoapi;
pub mod pygeoapi_bed;
pub mod pygeoapi_front;
pub mod secrets;
pub mod signing;
pub mod site;
pub mod sshd;
pub mod status;
pub mod syncbed;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The shared control plane.
pub struct Testbed {
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
}

static TESTBED: OnceLock<Testbed> = OnceLock::new();

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn script() -> PathBuf {
    repo_root().join("tests/testbed/testbed")
}

/// The control plane for this test run: the one named by
/// SITEHAPAIR_TEST_KUBECONFIG (as the test command starts it), or one started
/// here and stopped by a reaper when this process exits.
pub fn testbed() -> &'static Testbed {
    TESTBED.get_or_init(|| {
        let bin_out = Command::new(script())
            .arg("bin")
            .output()
            .expect("run testbed bin");
        let bin = PathBuf::from(String::from_utf8_lossy(&bin_out.stdout).trim());
        let kubeconfig = match std::env::var_os("SITEHAPAIR_TEST_KUBECONFIG") {
            Some(k) => PathBuf::from(k),
            None => start_own_testbed(),
        };
        let tb = Testbed { kubeconfig, bin };
        // A test that installs the CRD the way users do (helm) asks not to.
        if std::env::var_os("SITEHAPAIR_TEST_SKIP_CRD").is_none() {
            install_crd(&tb);
        }
        tb
    })
}

fn start_own_testbed() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sitehapair-testbed-{}", std::process::id()));
    let out = Command::new(script())
        .arg("up")
        .arg(&dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("run testbed up");
    assert!(out.status.success(), "testbed up failed");
    // The reaper outlives this process and tears the control plane down when it exits.
    let reaper = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' down '{dir}'",
        pid = std::process::id(),
        script = script().display(),
        dir = dir.display()
    );
    // `setsid -f` forks the reaper into its own session and returns at once.
    let status = Command::new("setsid")
        .args(["-f", "sh", "-c", &reaper])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start testbed reaper");
    assert!(status.success(), "could not start the testbed reaper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("testbed prints the kubeconfig path")
            .trim(),
    )
}

fn install_crd(tb: &Testbed) {
    let crd = repo_root().join("crds/sitehapair.io_sitehapairs.yaml");
    let out = kubectl_in(
        tb,
        None,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            path_str(&crd),
        ],
    );
    assert!(out.status.success(), "CRD install failed: {}", stderr(&out));
    // Polled, not `kubectl wait`: right after the apply the CRD may have
    // no status.conditions yet, which `kubectl wait` reports as an error
    // instead of waiting.
    wait_for(
        "the SiteHAPair CRD to be Established",
        Duration::from_secs(60),
        || {
            let out = kubectl_in(
                tb,
                None,
                &["get", "crd/sitehapairs.sitehapair.io", "-o", "json"],
            );
            let crd: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let established = crd["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True");
            established.then_some(())
        },
    );
    // Established is not yet discoverable: wait until kubectl sees the short
    // name and the published OpenAPI, dropping kubectl's discovery cache
    // between tries.
    wait_for("kubectl to discover shp", Duration::from_secs(60), || {
        let out = kubectl_in(tb, None, &["explain", "shp.spec.activeSite"]);
        if out.status.success() {
            return Some(());
        }
        let _ = std::fs::remove_dir_all(kube_cache_dir());
        None
    });
}

/// kubectl's cache directory for this test process, apart from the user's.
fn kube_cache_dir() -> PathBuf {
    std::env::temp_dir().join(format!("sitehapair-kubecache-{}", std::process::id()))
}

/// Clear the package variables cargo gives a running test from a command
/// that runs cargo (directly or through a script). Build scripts watch some
/// of them (ring: CARGO_MANIFEST_DIR, CARGO_PKG_*), so passing them on would
/// rebuild the dependencies the outer build just built and relink, under the
/// running tests, this very test binary and the operator's.
pub fn without_package_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&k.as_ref())
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub fn kubectl_cmd(tb: &Testbed, namespace: Option<&str>) -> Command {
    let mut cmd = Command::new(tb.bin.join("kubectl"));
    cmd.env("KUBECONFIG", &tb.kubeconfig);
    cmd.env("KUBECACHEDIR", kube_cache_dir());
    if let Some(ns) = namespace {
        cmd.args(["--namespace", ns]);
    }
    cmd
}

pub fn kubectl_in(tb: &Testbed, namespace: Option<&str>, args: &[&str]) -> Output {
    kubectl_cmd(tb, namespace)
        .args(args)
        .output()
        .expect("run kubectl")
}

/// Run kubectl with `input` on stdin.
pub fn kubectl_stdin(namespace: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = kubectl_cmd(testbed(), Some(namespace))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("kubectl output")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stdout of a command that must have succeeded; panics with `what`
/// and both its outputs when it did not.
pub fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// A namespace of its own for one test; deleted when dropped.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn new(prefix: &str) -> Self {
        let tb = testbed();
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{:x}{:x}",
            std::process::id() % 4096,
            nonce % 0xfffff
        );
        let out = kubectl_in(tb, None, &["create", "namespace", &name]);
        assert!(out.status.success(), "create namespace: {}", stderr(&out));
        Self { name }
    }

    /// kubectl in this namespace; panics with stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_raw(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    pub fn kubectl_raw(&self, args: &[&str]) -> Output {
        kubectl_in(testbed(), Some(&self.name), args)
    }

    /// The object as JSON, or None when it does not exist.
    pub fn get_json(&self, kind_name: &str) -> Option<serde_json::Value> {
        let out = self.kubectl_raw(&["get", kind_name, "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Notes of the events.k8s.io Events in this namespace with this reason.
    pub fn events(&self, reason: &str) -> Vec<String> {
        let list = self
            .get_json("events.events.k8s.io")
            .unwrap_or(serde_json::Value::Null);
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason)
            .filter_map(|e| e["note"].as_str().map(str::to_string))
            .collect()
    }

    /// Apply a manifest given as text.
    pub fn apply(&self, manifest: &str) -> Output {
        kubectl_stdin(&self.name, &["apply", "-f", "-"], manifest)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Remove finalizers first so that namespace deletion does not wait on
        // an operator that is already gone.
        if let Some(list) = self.get_json("sitehapairs") {
            for item in list["items"].as_array().into_iter().flatten() {
                if let Some(name) = item["metadata"]["name"].as_str() {
                    let _ = self.kubectl_raw(&[
                        "patch",
                        "sitehapair",
                        name,
                        "--type=merge",
                        "-p",
                        r#"{"metadata":{"finalizers":null}}"#,
                    ]);
                }
            }
        }
        let _ = kubectl_in(
            testbed(),
            None,
            &["delete", "namespace", &self.name, "--wait=false"],
        );
    }
}

/// Poll `check` until it returns Some, or panic with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The example pair from examples/pair.yaml.
pub fn example_pair() -> String {
    std::fs::read_to_string(repo_root().join("examples/pair.yaml"))
        .expect("read examples/pair.yaml")
}

/// A valid pair as JSON, for tests that mutate one field.
pub fn base_pair(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "sitehapair.io/v1alpha1",
        "kind": "SiteHAPair",
        "metadata": {"name": name},
        "spec": {
            "activeSite": "east",
            "sites": [
                {"name": "east", "adminUrl": "https://east.example:6443/admin",
                 "credentialsSecretRef": {"name": "east-admin"}, "trafficAddresses": ["192.0.2.10"]},
                {"name": "west", "adminUrl": "https://west.example:6443/admin",
                 "credentialsSecretRef": {"name": "west-admin"}, "trafficAddresses": ["192.0.2.20"]}
            ]
        }
    })
}

/// The condition of `type_` in a pair's status JSON (Null when absent).
pub fn condition(status: &serde_json::Value, type_: &str) -> serde_json::Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// The status row of site `name` (Null when the status has none).
pub fn site_row<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["sites"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

/// A kube client with the test bed's admin kubeconfig.
pub async fn kube_client() -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&testbed().kubeconfig).expect("kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// The `p` quantile (0..=1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
