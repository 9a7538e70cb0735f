//! An operator process (`sitehapair run`) started for one test, scoped to the
//! test's namespace, on a free loopback port; killed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{testbed, wait_for};

/// Short leases, so that a crashed operator's successor leads quickly.
pub const FAST_LEASE: [&str; 4] = ["--lease-duration", "5", "--lease-grace", "4"];

pub struct Operator {
    child: Option<Child>,
    pub port: u16,
    pub identity: String,
    pub log: std::path::PathBuf,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl Operator {
    /// Start `sitehapair run` watching `namespace`, leading through a Lease there.
    pub fn start(namespace: &str, identity: &str, extra: &[&str]) -> Self {
        Self::start_env(namespace, identity, extra, &[])
    }

    /// Like `start`, with extra environment variables.
    pub fn start_env(
        namespace: &str,
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn(Some(namespace), identity, namespace, extra, env)
    }

    /// `sitehapair run` over all namespaces (scope it with
    /// `--pair-selector`), its Lease in `lease_namespace`.
    pub fn start_cluster_wide(
        lease_namespace: &str,
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut args = vec!["--lease-namespace", lease_namespace];
        args.extend_from_slice(extra);
        Self::spawn(None, identity, lease_namespace, &args, env)
    }

    fn spawn(
        namespace: Option<&str>,
        identity: &str,
        log_name: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let tb = testbed();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("sitehapair-op-{log_name}-{identity}.log"));
        let log_file = std::fs::File::create(&log).expect("create operator log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sitehapair"));
        die_with_parent(&mut cmd);
        cmd.args(["run", "--identity", identity, "--log-format", "json"]);
        if let Some(ns) = namespace {
            cmd.args(["--namespace", ns]);
        }
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("KUBECONFIG", &tb.kubeconfig)
            .env("RUST_LOG", "info")
            // The tests serve most repositories from the local disk; a test
            // of the refusal sets this to false.
            .env("SITEHAPAIR_ALLOW_FILE_SOURCES", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start sitehapair run");
        let op = Self {
            child: Some(child),
            port,
            identity: identity.to_string(),
            log,
        };
        wait_for(
            &format!("operator {identity} to serve /healthz"),
            Duration::from_secs(30),
            || {
                op.http_get("/healthz")
                    .filter(|b| b.contains("ok"))
                    .map(|_| ())
            },
        );
        op
    }

    /// A plain HTTP GET on the operator's port; None when it does not answer 200.
    pub fn http_get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        let (head, body) = buf.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    }

    /// The value of a metric without labels, if exported.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.http_get("/metrics")?;
        text.lines().find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the process dies without releasing anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The child gets SIGKILL when the test thread that started it goes away,
/// even if the test process is killed and no Drop runs.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
