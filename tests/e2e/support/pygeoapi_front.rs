//! The authenticating front of a pygeoapi site in the tests: pygeoapi's
//! admin API has no authentication of its own, so, as in production, a
//! proxy before it asks for credentials on `/admin` (HTTP basic or a
//! bearer token) and passes the public API through. It records every
//! admin call it passed on (when, method, path). Runs on a thread of its
//! own with its own tokio runtime, on a free loopback port that it keeps
//! across `stop` and `resume`; stopped when dropped.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::hostile_site::read_request;

/// What the front accepts on `/admin`.
#[derive(Clone, Debug)]
pub enum Credential {
    Basic { username: String, password: String },
    Bearer(String),
}

impl Credential {
    fn header(&self) -> String {
        match self {
            Credential::Basic { username, password } => {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                format!("Basic {b}")
            }
            Credential::Bearer(t) => format!("Bearer {t}"),
        }
    }

    /// curl's arguments for this credential.
    pub fn curl_args(&self) -> Vec<String> {
        match self {
            Credential::Basic { username, password } => {
                vec!["-u".into(), format!("{username}:{password}")]
            }
            Credential::Bearer(t) => vec!["-H".into(), format!("Authorization: Bearer {t}")],
        }
    }
}

/// One admin call passed on: (unix ms, method, path).
pub type Write = (i64, String, String);

pub struct Front {
    /// http://127.0.0.1:PORT, the site's adminUrl.
    pub url: String,
    port: u16,
    upstream: u16,
    credential: Credential,
    writes: Arc<Mutex<Vec<Write>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Front {
    /// A front on a free port before pygeoapi on `upstream`.
    pub fn start(upstream: u16, credential: Credential) -> Self {
        let port = super::operator::free_port();
        let mut f = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            upstream,
            credential,
            writes: Arc::default(),
            stop: None,
            thread: None,
        };
        f.resume();
        f
    }

    /// Stop listening: the site's admin API no longer answers at all.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listen again on the same port.
    pub fn resume(&mut self) {
        self.stop();
        let (listening, is_listening) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let (port, upstream) = (self.port, self.upstream);
        let expected = self.credential.header();
        let writes = self.writes.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("bind the front");
                let _ = listening.send(());
                let serve = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let (expected, writes) = (expected.clone(), writes.clone());
                        tokio::spawn(handle(client, upstream, expected, writes));
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        is_listening.recv().expect("the front listens");
        self.stop = Some(stop);
        self.thread = Some(thread);
    }

    /// The admin writes passed on so far.
    pub fn writes(&self) -> Vec<Write> {
        self.admin_calls()
            .into_iter()
            .filter(|w| w.1 != "GET" && w.1 != "HEAD")
            .collect()
    }

    /// Every admin call passed on so far, reads too.
    pub fn admin_calls(&self) -> Vec<Write> {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many listings of the resources were passed on so far.
    pub fn listings(&self) -> usize {
        self.admin_calls()
            .iter()
            .filter(|w| w.1 == "GET" && w.2 == "/admin/config/resources")
            .count()
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: u16,
    expected: String,
    writes: Arc<Mutex<Vec<Write>>>,
) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    if path.starts_with("/admin") {
        let given = head.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        });
        if given.as_deref() != Some(expected.as_str()) {
            let answer = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"pygeoapi admin\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = client.write_all(answer.as_bytes()).await;
            return;
        }
        writes.lock().unwrap_or_else(|p| p.into_inner()).push((
            now_ms(),
            method.clone(),
            path.clone(),
        ));
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        let answer = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = client.write_all(answer.as_bytes()).await;
        return;
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
    request.push_str(&body);
    if up.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let _ = tokio::io::copy(&mut up, &mut client).await;
}
