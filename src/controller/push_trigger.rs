//! A push reaches the pairs in memory: in the leader, the webhook records
//! when each pushed repository moved and wakes the pairs that follow it
//! through the Controller's `reconcile_on` stream; each of those pairs'
//! trips then asks the shared source cache for a refresh, which fetches
//! once for all of them. No API write per pair.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use crate::api::SiteHAPair;
use crate::source::webhook::normalize_repo_url;

#[derive(Default)]
pub struct PushTrigger {
    /// When each repository (normalized URL) was last pushed to.
    pushed: Mutex<HashMap<String, SystemTime>>,
    /// The Controller's trigger, set when it starts in the leader.
    tx: OnceLock<mpsc::UnboundedSender<ObjectRef<SiteHAPair>>>,
}

impl PushTrigger {
    /// The stream the Controller reconciles on. Called once per process
    /// (one leadership term per process); later calls get an empty stream.
    pub fn stream(&self) -> impl Stream<Item = ObjectRef<SiteHAPair>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.tx.set(tx);
        futures::stream::unfold(rx, |mut rx| async move {
            let next = rx.recv().await?;
            Some((next, rx))
        })
    }

    /// Record pushes to `repositories` at `at` and wake `pairs`. False when
    /// there is no Controller here to wake (this replica does not lead).
    pub fn fire(
        &self,
        repositories: &[String],
        pairs: Vec<ObjectRef<SiteHAPair>>,
        at: SystemTime,
    ) -> bool {
        let Some(tx) = self.tx.get() else {
            return false;
        };
        if let Ok(mut m) = self.pushed.lock() {
            for r in repositories {
                m.insert(normalize_repo_url(r), at);
            }
        }
        pairs.into_iter().all(|p| tx.send(p).is_ok())
    }

    /// When the repository at `url` was last pushed to, if it was.
    pub fn pushed_at(&self, url: &str) -> Option<SystemTime> {
        self.pushed
            .lock()
            .ok()?
            .get(&normalize_repo_url(url))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_push_is_recorded_by_repository_and_wakes_the_pairs() {
        let t = PushTrigger::default();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100);
        // No Controller yet (not leading): nothing is taken.
        assert!(!t.fire(&["https://git.example/org/repo".into()], vec![], at));
        let mut stream = Box::pin(t.stream());
        let pair = ObjectRef::<SiteHAPair>::new("gis").within("ns");
        assert!(t.fire(
            &["https://git.example/org/repo.git".into()],
            vec![pair.clone()],
            at
        ));
        assert_eq!(stream.next().await, Some(pair));
        assert_eq!(t.pushed_at("https://git.example/org/repo"), Some(at));
        assert_eq!(t.pushed_at("https://git.example/org/other"), None);
    }
}
