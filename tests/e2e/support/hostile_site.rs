//! A hostile site for the end-to-end tests: a small HTTP/1.1 server on a
//! free loopback port, run by a thread of its own with its own tokio
//! runtime, that answers each request the way the test says (slowly, with a
//! redirect, with a body that never ends, with a long error text) and
//! records every connection it accepted and every request it read (its
//! headers and body too), with how the answer ended. One request per
//! connection. Stopped when dropped. The hook tests use it as the endpoint
//! of an HTTP hook.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status and body, all at once.
    Now { status: u16, body: String },
    /// 200 and the headers at once, then the body one byte a second.
    Drip { body: String },
    /// A redirect (301, 302, 307, 308) to `location`.
    Redirect { status: u16, location: String },
    /// 200 with a body that never ends, sent as fast as the client reads
    /// (stopped by the server after `ENDLESS_LIMIT`).
    Endless,
}

/// The most one endless answer sends before the server gives up itself.
pub const ENDLESS_LIMIT: u64 = 1 << 30;
/// The longest one answer runs before the server gives up itself.
const ANSWER_LIMIT: Duration = Duration::from_secs(120);

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Still being sent.
    Running,
    /// Sent whole.
    Complete,
    /// The client closed the connection before the answer was whole.
    ClientClosed,
    /// The server's own limit stopped it.
    ServerLimit,
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Whether it carried `Authorization: Bearer ...`.
    pub bearer: bool,
    /// Its headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// Its body (up to 1 MiB, as Content-Length says).
    pub body: String,
    /// Body bytes sent so far.
    pub sent: u64,
    pub ended: Ended,
    /// From the request to the end of the answer.
    pub took: Option<Duration>,
}

impl Seen {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Route = dyn Fn(&str, &str) -> Answer + Send + Sync;

pub struct HostileSite {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HostileSite {
    /// Serve on a free loopback port; `route(method, path)` picks the answer.
    pub fn start(route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Self {
        let std_listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel();
        let route: Arc<Route> = Arc::new(route);
        let (s, c) = (seen.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // Tasks still running when this returns are dropped with the runtime.
            rt.block_on(serve(std_listener, route, s, c, stopped));
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// TCP connections accepted so far (a TLS client counts too).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests that could change something: anything but GET and HEAD.
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

impl Drop for HostileSite {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    std_listener: StdListener,
    route: Arc<Route>,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(std_listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(one_request(stream, route.clone(), seen.clone()));
            }
        }
    }
}

/// The request head (up to 64 KiB) and its body (up to 1 MiB, as
/// Content-Length says), within 10 s; None when there is no head.
pub async fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() > 64 * 1024 {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(1024 * 1024);
    let mut body = data[end..].to_vec();
    while body.len() < length {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    body.truncate(length);
    Some((head, String::from_utf8_lossy(&body).into_owned()))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

async fn one_request(mut stream: TcpStream, route: Arc<Route>, seen: Arc<Mutex<Vec<Seen>>>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let bearer = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("authorization:")
            .is_some_and(|v| v.trim().starts_with("bearer "))
    });
    let answer = route(&method, &path);
    let index = {
        let mut all = seen.lock().expect("lock");
        all.push(Seen {
            method,
            path,
            bearer,
            headers,
            body,
            sent: 0,
            ended: Ended::Running,
            took: None,
        });
        all.len() - 1
    };
    let started = Instant::now();
    let record = |sent: u64, ended: Ended| {
        let mut all = seen.lock().expect("lock");
        all[index].sent = sent;
        all[index].ended = ended;
        if ended != Ended::Running {
            all[index].took = Some(started.elapsed());
        }
    };
    let ended = match tokio::time::timeout(ANSWER_LIMIT, send(&mut stream, answer, &record)).await {
        Ok(e) => e,
        Err(_) => Ended::ServerLimit,
    };
    let sent = seen.lock().expect("lock")[index].sent;
    record(sent, ended);
    let _ = stream.shutdown().await;
}

/// Send one answer; `record(sent, Running)` after every body write.
async fn send(stream: &mut TcpStream, answer: Answer, record: &impl Fn(u64, Ended)) -> Ended {
    let head = |status: u16, extra: &str| {
        format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n",
            reason(status)
        )
    };
    match answer {
        Answer::Now { status, body } => {
            let h = head(status, &format!("Content-Length: {}\r\n", body.len()));
            if stream.write_all(h.as_bytes()).await.is_err()
                || stream.write_all(body.as_bytes()).await.is_err()
            {
                return Ended::ClientClosed;
            }
            record(body.len() as u64, Ended::Running);
            Ended::Complete
        }
        Answer::Redirect { status, location } => {
            let h = head(
                status,
                &format!("Location: {location}\r\nContent-Length: 0\r\n"),
            );
            if stream.write_all(h.as_bytes()).await.is_err() {
                return Ended::ClientClosed;
            }
            Ended::Complete
        }
        Answer::Drip { body } => {
            let h = head(200, &format!("Content-Length: {}\r\n", body.len()));
            if stream.write_all(h.as_bytes()).await.is_err() {
                return Ended::ClientClosed;
            }
            let mut sent = 0u64;
            for b in body.as_bytes() {
                if stream.write_all(&[*b]).await.is_err() || stream.flush().await.is_err() {
                    return Ended::ClientClosed;
                }
                sent += 1;
                record(sent, Ended::Running);
                // Notice a client that hung up while waiting for the next byte.
                let mut probe = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_secs(1), stream.read(&mut probe)).await
                {
                    return Ended::ClientClosed;
                }
            }
            Ended::Complete
        }
        Answer::Endless => {
            if stream.write_all(head(200, "").as_bytes()).await.is_err() {
                return Ended::ClientClosed;
            }
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0u64;
            while sent < ENDLESS_LIMIT {
                if stream.write_all(&chunk).await.is_err() {
                    return Ended::ClientClosed;
                }
                sent += chunk.len() as u64;
                record(sent, Ended::Running);
            }
            Ended::ServerLimit
        }
    }
}
