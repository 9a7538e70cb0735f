//! HAProxy (Debian's package, installed by scripts/setup.sh) run as the
//! test's own process (`haproxy -f CFG -db`) in front of the client paths of
//! a pair's sites, its health checks asking the operator's endpoint
//! (`--traffic-listen`) which site takes traffic. Loopback only, free ports,
//! the configuration in a temp dir; killed when dropped.
//!
//! Three parts, all in one process:
//!
//! - `operator_endpoint`: the operator replicas' `--traffic-listen`
//!   addresses behind one loopback port, so that the checks follow whichever
//!   replica is alive (a killed replica refuses the connection; the check is
//!   retried on another at once). Every replica answers from its own watch.
//! - `sites`: one server per site (its client path), each `track`ing a check
//!   server of its own (`check_<site>`) whose `option httpchk` asks
//!   `GET /traffic/<namespace>/<pair>/<site>` of `operator_endpoint`
//!   (`addr`/`port`: the check goes elsewhere than the traffic). The path
//!   differs per site and `option httpchk` is per backend, hence a check
//!   backend per site. Neither server is a `backup`: both are equal, the
//!   endpoint decides.
//! - `clients`: the frontend clients use. GETs go through a small Lua
//!   service that holds a request over a short gap where no site serves
//!   (`examples/haproxy/hold.lua`, as users get it); other methods go
//!   straight to `sites`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::operator::free_port;
use super::wait_for;

/// HAProxy's check interval on the operator's endpoint.
pub const CHECK_INTER_MS: u64 = 100;
/// Successful checks before a server is UP.
pub const RISE: u64 = 1;
/// Failed checks before a server is DOWN.
pub const FALL: u64 = 2;
/// Longest a GET is held (and retried) while no site serves it.
pub const HOLD_MS: u64 = 3000;

/// The hold of idempotent requests over a switch: the same file the
/// runbook gives users (`examples/haproxy/hold.lua`; its head says why a
/// service and not only `retry-on`), configured through HAProxy's
/// environment (HOLD_INNER_URL, HOLD_MS).
const HOLD_LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/haproxy/hold.lua");

/// One site behind HAProxy: its name and client path (host:port).
pub struct Backend<'a> {
    pub site: &'a str,
    pub client_addr: &'a str,
}

pub struct HaProxy {
    child: Option<Child>,
    /// The clients' frontend, host:port.
    pub addr: String,
    /// The stats page (`/stats;csv`), host:port.
    pub stats_addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn haproxy_bin() -> &'static str {
    if std::path::Path::new("/usr/sbin/haproxy").exists() {
        "/usr/sbin/haproxy"
    } else {
        "haproxy"
    }
}

/// The configuration: see the module comment for its parts, and the
/// comments in it for each setting.
pub fn config(
    namespace: &str,
    pair: &str,
    sites: &[Backend<'_>],
    endpoints: &[String],
    ports: (u16, u16, u16, u16),
    lua: &str,
) -> String {
    let (front, inner, endpoint, stats) = ports;
    let mut c = format!(
        "global
  lua-load {lua}

defaults
  mode http
  # Loopback: a connection is made at once or refused at once.
  timeout connect 500ms
  timeout client 10s
  # Longer than any answer a site gives; a stopped site is a response
  # timeout, retried elsewhere (retry-on response-timeout).
  timeout server 2s
  # The check's own deadline: an endpoint that hangs is a failed check.
  timeout check 500ms

frontend clients
  bind 127.0.0.1:{front}
  http-request use-service lua.hold_retry if METH_GET or METH_HEAD
  default_backend sites

frontend inner
  bind 127.0.0.1:{inner}
  default_backend sites

listen stats
  bind 127.0.0.1:{stats}
  stats enable
  stats uri /stats

listen operator_endpoint
  bind 127.0.0.1:{endpoint}
  # A killed replica refuses the connection: try another one at once.
  retries 3
  retry-on conn-failure empty-response
  option redispatch 1
"
    );
    for (i, e) in endpoints.iter().enumerate() {
        c.push_str(&format!("  server op{i} {e} check inter 500ms\n"));
    }
    c.push_str(&format!(
        "
backend sites
  balance roundrobin
  # A 503 (a site that just went passive), a refused connection (a killed
  # site), an empty or late answer: retried, each retry on another UP
  # server (redispatch 1) when there is one. With GETs only this is safe;
  # the Lua hold above covers the gap where no server serves.
  retries 3
  retry-on 503 conn-failure empty-response response-timeout
  option redispatch 1
  # Every check every {CHECK_INTER_MS} ms. rise {RISE}: one 200 from the operator's endpoint
  # is enough to send traffic to the site it names (the endpoint decides,
  # from the pair's status). fall {FALL}: a single lost check does not take
  # the active out.
  default-server inter {CHECK_INTER_MS}ms fastinter {CHECK_INTER_MS}ms downinter {CHECK_INTER_MS}ms rise {RISE} fall {FALL}
"
    ));
    for s in sites {
        c.push_str(&format!(
            "  server {site} {addr} track check_{site}/{site}\n",
            site = s.site,
            addr = s.client_addr
        ));
    }
    for s in sites {
        c.push_str(&format!(
            "
backend check_{site}
  option httpchk GET /traffic/{namespace}/{pair}/{site}
  http-check expect status 200
  server {site} {addr} check addr 127.0.0.1 port {endpoint} inter {CHECK_INTER_MS}ms fastinter {CHECK_INTER_MS}ms downinter {CHECK_INTER_MS}ms rise {RISE} fall {FALL}
",
            site = s.site,
            addr = s.client_addr,
        ));
    }
    c
}

impl HaProxy {
    /// Start HAProxy in front of `sites` of the pair `pair` in `namespace`,
    /// checking the operator replicas' endpoints `endpoints` (host:port of
    /// their `--traffic-listen`), and wait until it accepts connections.
    pub fn start(namespace: &str, pair: &str, sites: &[Backend<'_>], endpoints: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = (free_port(), free_port(), free_port(), free_port());
        let cfg = config(namespace, pair, sites, endpoints, ports, HOLD_LUA);
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, cfg).expect("write haproxy.cfg");
        let log = dir.path().join("haproxy.log");
        let mut cmd = Command::new(haproxy_bin());
        die_with_parent(&mut cmd);
        let child = cmd
            .env("HOLD_INNER_URL", format!("http://127.0.0.1:{}", ports.1))
            .env("HOLD_MS", HOLD_MS.to_string())
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(&log).expect("create haproxy log"),
            ))
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("open haproxy log"),
            ))
            .spawn()
            .expect("start haproxy (scripts/setup.sh installs it)");
        let mut hx = Self {
            child: Some(child),
            addr: format!("127.0.0.1:{}", ports.0),
            stats_addr: format!("127.0.0.1:{}", ports.3),
            log,
            _dir: dir,
        };
        wait_for("haproxy to listen", Duration::from_secs(10), || {
            if let Some(c) = hx.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("haproxy exited ({st}): {}", hx.logs());
            }
            std::net::TcpStream::connect(&hx.stats_addr)
                .ok()
                .map(|_| ())
        });
        hx
    }

    /// The state HAProxy's checks give each server of `sites` (UP, DOWN, ...).
    pub fn server_states(&self) -> Vec<(String, String)> {
        let Some(a) = super::http::get(&self.stats_addr, "/stats;csv", Duration::from_secs(2))
        else {
            return Vec::new();
        };
        a.body
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.first() == Some(&"sites") && f.get(1) != Some(&"BACKEND")).then(|| {
                    (
                        f[1].to_string(),
                        f.get(17).copied().unwrap_or("").to_string(),
                    )
                })
            })
            .collect()
    }

    /// Wait until HAProxy has exactly `site` UP among the sites.
    pub fn wait_only_up(&self, site: &str, timeout: Duration) {
        wait_for(
            &format!("haproxy to send traffic to {site} only"),
            timeout,
            || {
                let states = self.server_states();
                (!states.is_empty()
                    && states
                        .iter()
                        .all(|(s, st)| (s == site) == st.starts_with("UP")))
                .then_some(())
            },
        );
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The child gets SIGKILL when the test thread that started it goes away.
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

impl Drop for HaProxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
