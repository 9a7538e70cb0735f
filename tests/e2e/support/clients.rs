//! A client of a pair's traffic, for the load balancer tests, the node
//! test's ClusterIP client and the client bench: a bounded loop in a thread
//! that GETs `/` through an address (a load balancer on loopback, or a
//! Service ClusterIP inside the run's own node namespaces) every few
//! milliseconds until stopped, one request at a time, each on a fresh
//! connection (so each is routed afresh, as a new client would be), and
//! records what each got: the status and the reference site's `X-Site` and
//! `X-Site-Epoch` headers (docs/site-api.md, the client path). What the
//! samples add up to is `client_record`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client_record::{Record, Sample};
use super::http::get;

/// Longest one client run may last, whatever the test does.
const MAX_RUN: Duration = Duration::from_secs(300);
/// One request's deadline (longer than the load balancer's hold).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

/// The client loop, running.
pub struct Clients {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    samples: Arc<Mutex<Vec<Sample>>>,
    handle: Option<JoinHandle<()>>,
}

impl Clients {
    /// GET `/` through `addr` (host:port), then wait `every`, again and
    /// again until `finish` (or MAX_RUN). Only to loopback, or to a private
    /// address, which the tests reach only inside the node's namespaces.
    pub fn start(addr: &str, every: Duration) -> Self {
        let sock: SocketAddr = addr.parse().expect("host:port");
        let private = match sock.ip() {
            std::net::IpAddr::V4(ip) => ip.is_private(),
            std::net::IpAddr::V6(_) => false,
        };
        assert!(
            sock.ip().is_loopback() || private,
            "clients go to loopback or the run's own namespaces only, not {sock}"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (flag, count, out) = (stop.clone(), served.clone(), samples.clone());
        let addr = addr.to_string();
        let handle = std::thread::spawn(move || {
            let begun = Instant::now();
            while !flag.load(Ordering::Relaxed) && begun.elapsed() < MAX_RUN {
                let sent = Instant::now();
                let answer = get(&addr, "/", REQUEST_TIMEOUT);
                let done = Instant::now();
                if answer.as_ref().is_some_and(|a| a.status < 500) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                out.lock().expect("samples").push(Sample {
                    sent,
                    done,
                    status: answer.as_ref().map(|a| a.status),
                    site: answer
                        .as_ref()
                        .and_then(|a| a.headers.get("x-site").cloned()),
                    epoch: answer
                        .as_ref()
                        .and_then(|a| a.headers.get("x-site-epoch"))
                        .and_then(|e| e.parse().ok()),
                });
                std::thread::sleep(every);
            }
        });
        Self {
            stop,
            served,
            samples,
            handle: Some(handle),
        }
    }

    /// How many requests have succeeded so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Wait until `n` more requests have succeeded than had at the call.
    pub fn wait_served(&self, n: usize, timeout: Duration) {
        let from = self.served();
        super::wait_for(&format!("{n} more requests served"), timeout, || {
            (self.served() >= from + n).then_some(())
        });
    }

    /// Wait until the last `n` requests were all answered 200 by `site`.
    pub fn wait_served_by(&self, site: &str, n: usize, timeout: Duration) {
        self.wait_last(site, n, None, timeout);
    }

    /// Wait until the last `n` requests, all sent at or after `after`,
    /// were served by `site` (requests served before `after` do not count:
    /// a switch the client saw before the test saw it complete still
    /// leaves answers after it to judge).
    pub fn wait_served_after(&self, site: &str, n: usize, after: Instant, timeout: Duration) {
        self.wait_last(site, n, Some(after), timeout);
    }

    fn wait_last(&self, site: &str, n: usize, after: Option<Instant>, timeout: Duration) {
        super::wait_for(
            &format!("{n} requests in a row served by {site}"),
            timeout,
            || {
                let s = self.samples.lock().expect("samples");
                (s.len() >= n
                    && s[s.len() - n..].iter().all(|x| {
                        after.is_none_or(|a| x.sent >= a)
                            && x.status == Some(200)
                            && x.site.as_deref() == Some(site)
                    }))
                .then_some(())
            },
        );
    }

    /// Stop the loop; what it saw.
    pub fn finish(mut self) -> Record {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("client thread");
        }
        let samples = std::mem::take(&mut *self.samples.lock().expect("samples"));
        Record { samples }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
