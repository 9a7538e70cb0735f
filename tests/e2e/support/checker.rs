//! `Checker`: polls the usual east and west sites' modes from a thread of
//! its own for as long as a test runs, and reports every moment both were
//! seen active.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sitehapair::sites::{Mode, Site};

use super::drivers::{driver, runtime};
use super::site::ReferenceSite;

/// Polls both sites' modes until stopped; returns every moment both were
/// seen active (east before and after a west sample, at one epoch).
pub struct Checker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(usize, Vec<String>)>>,
}

impl Checker {
    pub fn start(east: &ReferenceSite, west: &ReferenceSite) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let timeout = Duration::from_secs(1);
        let (e, w) = (
            driver(east, "east-token-1", timeout),
            driver(west, "west-token-2", timeout),
        );
        let handle = std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                let mut samples = 0;
                let mut both = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    let (Ok(e1), Ok(w1), Ok(e2)) = (e.mode().await, w.mode().await, e.mode().await)
                    else {
                        continue;
                    };
                    samples += 1;
                    let east_held = e1.mode == Mode::Active && e2 == e1;
                    if east_held && w1.mode == Mode::Active {
                        both.push(format!("east {e1:?} and west {w1:?}"));
                    }
                }
                (samples, both)
            })
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop polling; the number of samples and the moments both were active.
    pub fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().expect("handle").join().expect("checker")
    }
}

/// A test that fails before `finish` stops the polling too.
impl Drop for Checker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
