//! A forwarding HTTP proxy on a free loopback port, in front of one site
//! (a reference site over plain HTTP), whose behaviour a test switches
//! while it runs: pass everything through, hold the health check without
//! an answer, answer every call with 500, or answer nothing at all; or
//! forward the health check, or every write, only after a delay; or accept
//! no connection at all (a client's connect hangs). It
//! records every request it read (method and path) and what became of it.
//! One request per connection (every answer says `Connection: close`);
//! request bodies as Content-Length says. Run by a thread of its own with
//! its own tokio runtime; stopped, with every request it holds, when
//! dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use super::hostile_site::read_request;

/// What the proxy does with the requests it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Forward every request to the site.
    Pass,
    /// Hold requests to the health path without any answer (until the
    /// behaviour changes or the client gives up); forward the others.
    HangHealth,
    /// Answer every request 500 with a small JSON error; forward nothing.
    Fail500,
    /// Accept and read every request, and never answer.
    Blackhole,
    /// Hold each request to the health path this long after it was read,
    /// then forward it (unless the client gave up meanwhile); forward the
    /// others at once.
    DelayHealth(Duration),
    /// Hold each write (any method but GET and HEAD) this long after it
    /// was read, then forward it (unless the client gave up meanwhile);
    /// forward the others at once.
    DelayWrites(Duration),
    /// Accept no new connection: the proxy fills its listen backlog with
    /// connections of its own, so the kernel drops a client's SYN and the
    /// client's connect hangs (its kernel tries again after 1 s, 3 s, ...)
    /// until another behaviour accepts again. Connections accepted before
    /// go on as with `Pass`.
    StallAccepts,
}

impl Behaviour {
    /// Whether the site's admin API answers through the proxy in this
    /// behaviour (with the site's answers, late or not, or with 500):
    /// every behaviour but `Blackhole` and `StallAccepts`.
    pub fn speaks(self) -> bool {
        !matches!(self, Behaviour::Blackhole | Behaviour::StallAccepts)
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Held without an answer, still waiting.
    Held,
    /// Sent on to the site (its answer relayed, as far as the site gave one).
    Forwarded,
    /// Answered 500 by the proxy itself.
    Failed,
    /// Held until the client closed the connection.
    Abandoned,
    /// The site could not be reached (the client got a 502).
    UpstreamDown,
}

/// One request as the proxy read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target as sent (the admin URL's path prefix included).
    pub path: String,
    pub outcome: Outcome,
}

/// The longest one forwarded exchange may take before the proxy drops it.
const FORWARD_LIMIT: Duration = Duration::from_secs(60);
/// The listen backlog: ample for the bursts of a test (the proxy accepts
/// at once), small enough for `StallAccepts` to fill.
const BACKLOG: u32 = 16;

/// What a proxy does now, readable from another thread (a checker).
#[derive(Clone)]
pub struct BehaviourView(watch::Receiver<Behaviour>);

impl BehaviourView {
    pub fn now(&self) -> Behaviour {
        *self.0.borrow()
    }
}

pub struct Proxy {
    /// The proxy's URL, with the upstream URL's path: an admin URL.
    pub url: String,
    behaviour: watch::Sender<Behaviour>,
    seen: Arc<Mutex<Vec<Seen>>>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy in front of `upstream` (`http://host:port[/prefix]`) whose
    /// health check is at `health_path` (such as `/health`), passing
    /// everything through to begin with.
    pub fn start(upstream: &str, health_path: &str) -> Self {
        let rest = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the proxy forwards plain HTTP only: {upstream}"));
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind a loopback port");
        let addr = socket.local_addr().expect("local addr");
        let (listening, is_listening) = std::sync::mpsc::channel();
        let (behaviour, watching) = watch::channel(Behaviour::Pass);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            stalled: AtomicBool::new(false),
            upstream: authority.to_string(),
            health_path: strip_query(health_path).to_string(),
            behaviour: watching,
            seen: seen.clone(),
        });
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // Held and forwarded requests still running when this returns
            // are dropped (their connections closed) with the runtime.
            rt.block_on(async move {
                // Listening needs the runtime; the caller waits for it.
                let listener = socket.listen(BACKLOG).expect("listen");
                let _ = listening.send(());
                serve(listener, serving, stopped).await
            });
        });
        is_listening.recv().expect("the proxy listens");
        Self {
            url: format!("http://{addr}{prefix}"),
            behaviour,
            seen,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Switch the behaviour; requests held now are judged again by it.
    pub fn set(&self, behaviour: Behaviour) {
        self.behaviour.send_replace(behaviour);
    }

    /// Whether `StallAccepts` is in force: the backlog is full, a connect
    /// hangs.
    pub fn stalled(&self) -> bool {
        self.shared.stalled.load(Ordering::Acquire)
    }

    /// The behaviour now, for another thread to read while it changes.
    pub fn view(&self) -> BehaviourView {
        BehaviourView(self.behaviour.subscribe())
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// How many `method` requests whose path ends with `suffix` (query
    /// aside) ended as `outcome`.
    pub fn count(&self, method: &str, suffix: &str, outcome: Outcome) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.method == method && strip_query(&r.path).ends_with(suffix) && r.outcome == outcome
            })
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    /// `StallAccepts` is in force: the backlog is full.
    stalled: AtomicBool,
    upstream: String,
    health_path: String,
    behaviour: watch::Receiver<Behaviour>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Shared {
    fn holds(&self, behaviour: Behaviour, path: &str) -> bool {
        match behaviour {
            Behaviour::Blackhole => true,
            Behaviour::HangHealth => strip_query(path).ends_with(&self.health_path),
            Behaviour::Pass
            | Behaviour::Fail500
            | Behaviour::DelayHealth(_)
            | Behaviour::DelayWrites(_)
            | Behaviour::StallAccepts => false,
        }
    }

    /// How long to hold this request before forwarding it.
    fn delay(&self, behaviour: Behaviour, method: &str, path: &str) -> Option<Duration> {
        match behaviour {
            Behaviour::DelayHealth(d) if strip_query(path).ends_with(&self.health_path) => Some(d),
            Behaviour::DelayWrites(d) if method != "GET" && method != "HEAD" => Some(d),
            _ => None,
        }
    }

    fn record(&self, index: usize, outcome: Outcome) {
        self.seen.lock().expect("lock")[index].outcome = outcome;
    }
}

fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let own = listener.local_addr().expect("local addr");
    let mut behaviour = shared.behaviour.clone();
    // The proxy's own connections that fill the backlog while it stalls.
    let mut fillers: Vec<TcpStream> = Vec::new();
    loop {
        let stall = *behaviour.borrow_and_update() == Behaviour::StallAccepts;
        if stall && fillers.is_empty() {
            // Connect until a connect hangs: the backlog is full.
            for _ in 0..BACKLOG + 4 {
                let connect = TcpStream::connect(own);
                match tokio::time::timeout(Duration::from_millis(100), connect).await {
                    Ok(Ok(s)) => fillers.push(s),
                    _ => {
                        shared.stalled.store(true, Ordering::Release);
                        break;
                    }
                }
            }
        } else if !stall {
            fillers.clear();
            shared.stalled.store(false, Ordering::Release);
        }
        tokio::select! {
            _ = &mut stopped => return,
            changed = behaviour.changed() => if changed.is_err() { return },
            accepted = listener.accept(), if !stall => {
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(one_request(stream, shared.clone()));
            }
        }
    }
}

async fn one_request(mut client: TcpStream, shared: Arc<Shared>) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let index = {
        let mut all = shared.seen.lock().expect("lock");
        all.push(Seen {
            method: method.clone(),
            path: path.clone(),
            outcome: Outcome::Held,
        });
        all.len() - 1
    };
    // Hold while the behaviour says so: until it changes or the client
    // closes the connection.
    let mut behaviour = shared.behaviour.clone();
    let now = loop {
        let now = *behaviour.borrow_and_update();
        if !shared.holds(now, &path) {
            break now;
        }
        let mut probe = [0u8; 512];
        tokio::select! {
            changed = behaviour.changed() => if changed.is_err() { return },
            read = client.read(&mut probe) => if let Ok(0) | Err(_) = read {
                shared.record(index, Outcome::Abandoned);
                return;
            },
        }
    };
    // A delayed request is held for its delay, whatever the behaviour
    // becomes meanwhile, and dropped if the client gives up first.
    if let Some(delay) = shared.delay(now, &method, &path) {
        let until = tokio::time::Instant::now() + delay;
        loop {
            let mut probe = [0u8; 512];
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                read = client.read(&mut probe) => if let Ok(0) | Err(_) = read {
                    shared.record(index, Outcome::Abandoned);
                    return;
                },
            }
        }
    }
    let outcome = match now {
        Behaviour::Fail500 => {
            let body = r#"{"error":"internal error (the test proxy fails every call)"}"#;
            let answer = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes()).await;
            Outcome::Failed
        }
        _ => match tokio::time::timeout(FORWARD_LIMIT, forward(&mut client, &shared, &head, &body))
            .await
        {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Forwarded,
        },
    };
    shared.record(index, outcome);
    let _ = client.shutdown().await;
}

/// Send the request on to the site over a connection of its own, asking it
/// to close after answering, and relay the whole answer.
async fn forward(client: &mut TcpStream, shared: &Shared, head: &str, body: &str) -> Outcome {
    let Ok(mut upstream) = TcpStream::connect(&shared.upstream).await else {
        let answer = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = client.write_all(answer.as_bytes()).await;
        return Outcome::UpstreamDown;
    };
    let mut request = String::new();
    for (i, line) in head.split("\r\n").filter(|l| !l.is_empty()).enumerate() {
        let name = line.split(':').next().unwrap_or_default().trim();
        if i > 0
            && (name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive"))
        {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body);
    if upstream.write_all(request.as_bytes()).await.is_err() {
        return Outcome::UpstreamDown;
    }
    // The site answers `Connection: close` to a request that asks it, so
    // the client does not reuse this connection either.
    let _ = tokio::io::copy(&mut upstream, client).await;
    Outcome::Forwarded
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sitehapair::sites::http::{HttpSite, Token};
    use sitehapair::sites::{Mode, Site, SiteError};

    use super::{Behaviour, Outcome, Proxy};
    use crate::support::site::ReferenceSite;

    /// The proxy itself, against a reference site, without a control plane.
    #[test]
    fn the_proxy_passes_hangs_fails_and_blackholes_as_switched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = ReferenceSite::start(dir.path(), "east", "t");
        let proxy = Proxy::start(&site.url, "/health");
        let client = HttpSite::new(
            "east",
            &proxy.url,
            Token::new("t"),
            None,
            Duration::from_secs(1),
        )
        .expect("driver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            assert!(client.health().await.expect("health through the proxy"));
            let m = client.mode().await.expect("mode through the proxy");
            let epoch = m.epoch;
            client
                .set_mode(Mode::Passive, epoch + 1)
                .await
                .expect("PUT /mode through the proxy");

            proxy.set(Behaviour::HangHealth);
            let hung = client.health().await;
            assert!(matches!(hung, Err(SiteError::Timeout { .. })), "{hung:?}");
            let m = client
                .mode()
                .await
                .expect("mode while the health check hangs");
            assert_eq!((m.mode, m.epoch), (Mode::Passive, epoch + 1));
            // A held check is answered once the behaviour lets it through.
            let held = tokio::spawn({
                let c = client.clone().with_timeout(Duration::from_secs(10));
                async move { c.health().await }
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!held.is_finished());
            proxy.set(Behaviour::Pass);
            assert!(held.await.expect("join").expect("released health check"));

            proxy.set(Behaviour::Fail500);
            let failed = client.mode().await;
            assert!(failed.is_err(), "{failed:?}");

            proxy.set(Behaviour::Blackhole);
            let silent = client.mode().await;
            assert!(
                matches!(silent, Err(SiteError::Timeout { .. })),
                "{silent:?}"
            );
        });
        assert_eq!(proxy.count("PUT", "/mode", Outcome::Forwarded), 1);
        // The proxy notices a client that gave up when it closes the connection.
        crate::support::wait_for(
            "the hung check seen abandoned",
            Duration::from_secs(5),
            || (proxy.count("GET", "/health", Outcome::Abandoned) == 1).then_some(()),
        );
        assert_eq!(proxy.count("GET", "/health", Outcome::Forwarded), 2);
        assert_eq!(proxy.count("GET", "/mode", Outcome::Failed), 1);
        // Dropping the proxy ends its thread and what it holds.
        drop(proxy);
    }

    /// The delays: a health check or a write is forwarded only after its
    /// delay; other calls at once; a client that gives up first is not
    /// forwarded.
    #[test]
    fn the_proxy_forwards_health_checks_or_writes_after_a_delay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = ReferenceSite::start(dir.path(), "east", "t");
        let proxy = Proxy::start(&site.url, "/health");
        let client = |timeout| {
            HttpSite::new("east", &proxy.url, Token::new("t"), None, timeout).expect("driver")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let delay = Duration::from_millis(400);
        rt.block_on(async {
            let c = client(Duration::from_secs(5));
            proxy.set(Behaviour::DelayHealth(delay));
            let t = std::time::Instant::now();
            assert!(c.health().await.expect("a delayed health check"));
            assert!(t.elapsed() >= delay, "{:?}", t.elapsed());
            let t = std::time::Instant::now();
            let m = c.mode().await.expect("mode");
            assert!(t.elapsed() < delay, "GET /mode was delayed");
            // Given up on before its delay: never forwarded.
            let hasty = client(Duration::from_millis(100)).health().await;
            assert!(matches!(hasty, Err(SiteError::Timeout { .. })), "{hasty:?}");

            proxy.set(Behaviour::DelayWrites(delay));
            assert!(c.health().await.expect("health"));
            let t = std::time::Instant::now();
            c.set_mode(Mode::Passive, m.epoch + 1)
                .await
                .expect("a delayed PUT /mode");
            assert!(t.elapsed() >= delay, "{:?}", t.elapsed());
        });
        // Each recorded once the proxy has relayed the whole answer, or
        // seen the client close.
        crate::support::wait_for("the calls recorded", Duration::from_secs(5), || {
            (proxy.count("GET", "/health", Outcome::Abandoned) == 1
                && proxy.count("GET", "/health", Outcome::Forwarded) == 2
                && proxy.count("PUT", "/mode", Outcome::Forwarded) == 1)
                .then_some(())
        });
        assert_eq!(
            proxy.count("GET", "/health", Outcome::Forwarded),
            2,
            "{:?}",
            proxy.requests()
        );
    }

    /// A stalled proxy accepts nothing: a connect hangs until it accepts
    /// again, and then goes through (the client's kernel sends its SYN
    /// again).
    #[test]
    fn a_stalled_proxy_lets_connects_hang_until_it_accepts_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = ReferenceSite::start(dir.path(), "east", "t");
        let proxy = Proxy::start(&site.url, "/health");
        let addr = proxy.url.trim_start_matches("http://").to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let client = HttpSite::new(
                "east",
                &proxy.url,
                Token::new("t"),
                None,
                Duration::from_secs(5),
            )
            .expect("driver");
            proxy.set(Behaviour::StallAccepts);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !proxy.stalled() {
                assert!(std::time::Instant::now() < deadline, "never stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let hung = tokio::time::timeout(
                Duration::from_millis(700),
                tokio::net::TcpStream::connect(&addr),
            )
            .await;
            assert!(hung.is_err(), "a connect went through: {hung:?}");
            // A call started while it stalls goes through once it accepts.
            let call = tokio::spawn(async move { client.mode().await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!call.is_finished());
            proxy.set(Behaviour::Pass);
            call.await
                .expect("join")
                .expect("GET /mode after the stall");
        });
        // Recorded once the proxy has relayed the whole answer.
        crate::support::wait_for("the call recorded", Duration::from_secs(5), || {
            (proxy.count("GET", "/mode", Outcome::Forwarded) == 1).then_some(())
        });
    }
}
