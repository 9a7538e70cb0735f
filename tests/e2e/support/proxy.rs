//! A forwarding HTTP proxy on a free loopback port, in front of one site
//! (a reference site over plain HTTP), whose behaviour a test switches
//! while it runs: pass everything through, hold the health check without
//! an answer, answer every call with 500, or answer nothing at all. It
//! records every request it read (method and path) and what became of it.
//! One request per connection (every answer says `Connection: close`);
//! request bodies as Content-Length says. Run by a thread of its own with
//! its own tokio runtime; stopped, with every request it holds, when
//! dropped.

use std::net::TcpListener as StdListener;
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

pub struct Proxy {
    /// The proxy's URL, with the upstream URL's path: an admin URL.
    pub url: String,
    behaviour: watch::Sender<Behaviour>,
    seen: Arc<Mutex<Vec<Seen>>>,
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
        let std_listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let (behaviour, watching) = watch::channel(Behaviour::Pass);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            upstream: authority.to_string(),
            health_path: strip_query(health_path).to_string(),
            behaviour: watching,
            seen: seen.clone(),
        });
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // Held and forwarded requests still running when this returns
            // are dropped (their connections closed) with the runtime.
            rt.block_on(serve(std_listener, shared, stopped));
        });
        Self {
            url: format!("http://{addr}{prefix}"),
            behaviour,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Switch the behaviour; requests held now are judged again by it.
    pub fn set(&self, behaviour: Behaviour) {
        self.behaviour.send_replace(behaviour);
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
            Behaviour::Pass | Behaviour::Fail500 => false,
        }
    }

    fn record(&self, index: usize, outcome: Outcome) {
        self.seen.lock().expect("lock")[index].outcome = outcome;
    }
}

fn strip_query(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

async fn serve(std_listener: StdListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let listener = TcpListener::from_std(std_listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
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
            method,
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
}
