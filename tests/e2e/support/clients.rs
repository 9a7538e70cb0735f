//! `ClientLoop`: a client of a pair's traffic, from a thread of its own:
//! one plain HTTP GET after another, each on a new connection (so each is
//! routed afresh, as a new client would be), recording what answered: the
//! status and the reference site's `X-Site` and `X-Site-Epoch` headers
//! (docs/site-api.md, the client path), or the failure to connect or read.
//! Bounded: it stops when asked or after `MAX_REQUESTS`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wait_for;

/// At most this many requests, however long the loop is left running.
const MAX_REQUESTS: usize = 20_000;
const TIMEOUT: Duration = Duration::from_secs(2);

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sent: Instant,
    pub took: Duration,
    /// The HTTP status; None when no answer came (refused, reset, timeout).
    pub status: Option<u16>,
    pub site: Option<String>,
    pub epoch: Option<i64>,
    pub error: Option<String>,
}

impl Answer {
    pub fn served(&self) -> bool {
        self.status == Some(200)
    }

    pub fn received(&self) -> Instant {
        self.sent + self.took
    }
}

pub struct ClientLoop {
    pub target: SocketAddr,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    handle: Option<JoinHandle<()>>,
}

impl ClientLoop {
    /// Start asking `target`, waiting `gap` between one answer and the next
    /// request.
    pub fn start(target: SocketAddr, gap: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (stop.clone(), answers.clone());
        let handle = std::thread::spawn(move || {
            for _ in 0..MAX_REQUESTS {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let answer = ask(target);
                out.lock().expect("answers").push(answer);
                std::thread::sleep(gap);
            }
        });
        Self {
            target,
            stop,
            answers,
            handle: Some(handle),
        }
    }

    /// The answers so far, in the order sent.
    pub fn answers(&self) -> Vec<Answer> {
        self.answers.lock().expect("answers").clone()
    }

    /// Wait until the last `n` answers, all sent at or after `since`, were
    /// served by `site`.
    pub fn wait_served_by(&self, site: &str, n: usize, since: Instant, timeout: Duration) {
        wait_for(
            &format!("{n} answers in a row from {site} through {}", self.target),
            timeout,
            || {
                let a = self.answers.lock().expect("answers");
                (a.len() >= n
                    && a[a.len() - n..]
                        .iter()
                        .all(|x| x.sent >= since && x.served() && x.site.as_deref() == Some(site)))
                .then_some(())
            },
        );
    }

    /// Stop and give every answer, in the order sent.
    pub fn finish(mut self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("client loop thread");
        }
        self.answers()
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One GET / on a new connection.
fn ask(target: SocketAddr) -> Answer {
    let sent = Instant::now();
    let result = (|| -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&target, TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok(buf)
    })();
    let took = sent.elapsed();
    let mut answer = Answer {
        sent,
        took,
        status: None,
        site: None,
        epoch: None,
        error: None,
    };
    match result {
        Err(e) => answer.error = Some(e.to_string()),
        Ok(buf) => {
            let text = String::from_utf8_lossy(&buf);
            let head = text.split("\r\n\r\n").next().unwrap_or_default();
            let mut lines = head.lines();
            answer.status = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok());
            for l in lines {
                let Some((k, v)) = l.split_once(':') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "x-site" => answer.site = Some(v.trim().to_string()),
                    "x-site-epoch" => answer.epoch = v.trim().parse().ok(),
                    _ => {}
                }
            }
            if answer.status.is_none() {
                answer.error = Some(format!("not an HTTP answer: {head:?}"));
            }
        }
    }
    answer
}

/// What a client saw, for a table: requests sent, how many were not served
/// (no answer, or not 200), the longest run of them (from the first such
/// request sent to the next served one's answer, or to the last answer),
/// and the time from `since` until the first answer served by `site`.
#[derive(Debug, Clone)]
pub struct ClientFigures {
    pub sent: usize,
    pub failed: usize,
    pub longest_failure_run: Duration,
    pub served_again_after: Option<Duration>,
}

pub fn figures(answers: &[Answer], site: &str, since: Instant) -> ClientFigures {
    let failed = answers.iter().filter(|a| !a.served()).count();
    let mut longest = Duration::ZERO;
    let mut run_start: Option<Instant> = None;
    for a in answers {
        match (a.served(), run_start) {
            (false, None) => run_start = Some(a.sent),
            (true, Some(s)) => {
                longest = longest.max(a.received() - s);
                run_start = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(last)) = (run_start, answers.last()) {
        longest = longest.max(last.received() - s);
    }
    let served_again_after = answers
        .iter()
        .find(|a| a.sent >= since && a.served() && a.site.as_deref() == Some(site))
        .map(|a| a.received() - since);
    ClientFigures {
        sent: answers.len(),
        failed,
        longest_failure_run: longest,
        served_again_after,
    }
}

/// The client's view of a planned promotion from `old` (active at
/// `old_epoch`) to `new` (at `new_epoch`), asked for at `asked` and seen
/// complete at `done`: the problems found (empty when none). A 200 comes
/// only from a site active at that moment (the reference site answers by
/// its mode), so: no 200 from `old` after one from `new`, each site's 200s
/// at its own epoch, epochs never going backwards, every 200 sent after
/// `done` from `new`, and at least one such.
pub fn planned_promotion_problems(
    answers: &[Answer],
    (old, old_epoch): (&str, i64),
    (new, new_epoch): (&str, i64),
    asked: Instant,
    done: Instant,
) -> Vec<String> {
    let mut problems = Vec::new();
    let at = |a: &Answer| {
        format!(
            "{} ms after the spec change",
            a.sent.saturating_duration_since(asked).as_millis()
        )
    };
    let mut last_epoch: Option<i64> = None;
    let mut new_served = false;
    for a in answers {
        if let (Some(e), Some(l)) = (a.epoch, last_epoch)
            && e < l
        {
            problems.push(format!(
                "epoch went back from {l} to {e} ({:?}, {})",
                a.site,
                at(a)
            ));
        }
        last_epoch = a.epoch.or(last_epoch);
        if !a.served() {
            continue;
        }
        match a.site.as_deref() {
            Some(s) if s == new => {
                new_served = true;
                if a.epoch != Some(new_epoch) {
                    problems.push(format!("{new} served at epoch {:?} ({})", a.epoch, at(a)));
                }
            }
            Some(s) if s == old => {
                if new_served {
                    problems.push(format!("{old} served after {new} had ({})", at(a)));
                }
                if a.epoch != Some(old_epoch) {
                    problems.push(format!("{old} served at epoch {:?} ({})", a.epoch, at(a)));
                }
                if a.sent >= done {
                    problems.push(format!(
                        "{old} served after the promotion completed ({})",
                        at(a)
                    ));
                }
            }
            other => problems.push(format!("a 200 naming {other:?} ({})", at(a))),
        }
    }
    if !answers.iter().any(|a| a.sent >= done && a.served()) {
        problems.push(format!("no 200 after the promotion completed (from {new})"));
    }
    problems
}
