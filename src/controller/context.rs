//! What every reconcile shares: the client, the event recorder, metrics,
//! the leader flag, the shared git source cache, Secrets and site clients,
//! and each pair's memory (`pair_memory`: retry counts, status hashes,
//! traffic and listing memos) and metric series, all of a pair forgotten
//! at once with `forget` and `prune`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use super::leader::LeaderDeadline;
use super::pair_key::PairKey;
use super::pair_memory::PairMemories;
use super::secrets::SecretStore;
use super::site_drivers::SiteClients;
use crate::source::cache::SourceCache;
use crate::telemetry::Metrics;

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    /// This replica's identity (reporting instance of its Events).
    pub identity: String,
    pub metrics: Arc<Metrics>,
    /// True only while this replica holds the Lease; checked before every write.
    pub leader: Arc<AtomicBool>,
    /// The last renewal plus the renew deadline: no write starts after it.
    pub leader_until: LeaderDeadline,
    /// One git checkout per (url, ref, credentials), shared by all pairs.
    pub source: Arc<SourceCache>,
    /// Secrets, served from a metadata watch and read once per change.
    pub secrets: Arc<SecretStore>,
    /// One HTTP client per site and credentials, reused.
    pub site_clients: SiteClients,
    /// Whether `file://` repositories may be read (`--allow-file-sources`).
    pub allow_file_sources: bool,
    /// Outcomes of recent hook calls, for a trip planned again after them.
    pub hook_outcomes: super::trip::hooks::HookOutcomes,
    /// Every pair this replica watches (set when the controller starts):
    /// which pair manages a site shared by two.
    pub pairs: std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::SiteHAPair>>,
    /// The shard of pairs this context reconciles (all of them by default).
    pub shard: crate::plan::shard::Shard,
    /// What each pair's traffic objects were last applied as (kept in
    /// `memory`).
    pub traffic: super::traffic_memo::TrafficMemo,
    /// Pushes the webhook took in this (leading) replica, and the
    /// Controller trigger that wakes the pairs following them.
    pub push: super::push_trigger::PushTrigger,
    /// The ETag of each site's last listing that matched the revision
    /// (kept in `memory`).
    pub listings: super::listings::ListingMemo,
    /// What every pair's slot in its interval is counted from (see
    /// `plan::schedule::until_slot`).
    pub started: std::time::Instant,
    /// Each pair's memory: failed attempts (reset on success), whether it
    /// was read fresh from the API server in this leadership term, a hash
    /// of the status this replica last wrote or read fresh in this term (a
    /// cached object whose status hashes the same is not behind it), the
    /// generation the pair watch delivered, and the traffic and listing
    /// memos.
    memory: Arc<PairMemories>,
    /// The claim index of every pair, with the version of the pair set it
    /// was built from.
    claims: Mutex<Option<(u64, Arc<crate::plan::claims::ClaimIndex>)>>,
    /// Bumped when a pair appears, goes or its spec changes (its uid and
    /// generation, as the pair watch delivers them): status writes leave
    /// the claim index alone.
    claims_version: std::sync::atomic::AtomicU64,
}

impl Context {
    pub fn new(
        client: Client,
        identity: &str,
        metrics: Arc<Metrics>,
        leader: Arc<AtomicBool>,
        source: Arc<SourceCache>,
        secrets: Arc<SecretStore>,
        allow_file_sources: bool,
    ) -> Self {
        let reporter = Reporter {
            controller: "sitehapair-operator".to_string(),
            instance: Some(identity.to_string()),
        };
        let site_clients = SiteClients::in_cluster(client.clone());
        let memory = Arc::new(PairMemories::default());
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            identity: identity.to_string(),
            client,
            metrics,
            leader,
            leader_until: LeaderDeadline::default(),
            source,
            secrets,
            site_clients,
            allow_file_sources,
            hook_outcomes: Default::default(),
            pairs: std::sync::OnceLock::new(),
            shard: crate::plan::shard::Shard::ALL,
            traffic: super::traffic_memo::TrafficMemo::new(memory.clone()),
            listings: super::listings::ListingMemo::new(memory.clone()),
            push: Default::default(),
            started: std::time::Instant::now(),
            memory,
            claims: Mutex::new(None),
            claims_version: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// This context reconciles the pairs of `shard` only.
    pub fn with_shard(mut self, shard: crate::plan::shard::Shard) -> Self {
        self.shard = shard;
        self
    }

    /// A pair watch event, after the store took it: a new, changed (by
    /// generation) or deleted pair, or a relist, makes the claim index old.
    pub fn note_pair_event(&self, event: &kube::runtime::watcher::Event<crate::api::SiteHAPair>) {
        use kube::runtime::watcher::Event;
        let changed = match event {
            Event::Apply(p) | Event::InitApply(p) => {
                let seen = (
                    p.metadata.uid.clone().unwrap_or_default(),
                    p.metadata.generation,
                );
                self.memory.update(&PairKey::of(p), |m| {
                    m.generation.replace(seen.clone()) != Some(seen)
                })
            }
            Event::Delete(p) => {
                self.memory.update(&PairKey::of(p), |m| m.generation = None);
                true
            }
            Event::Init => false,
            Event::InitDone => true,
        };
        if changed {
            self.claims_version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Sites of `obj` another (earlier) pair manages, as messages. The
    /// index of every pair's claims is rebuilt only when a pair appeared,
    /// went or changed its spec, so a reconcile at rest does not walk
    /// every pair.
    pub fn claimed_elsewhere(&self, obj: &crate::api::SiteHAPair) -> Vec<String> {
        use crate::plan::claims::PairSites;
        let Some(store) = self.pairs.get() else {
            return Vec::new();
        };
        let version = self.claims_version.load(Ordering::Acquire);
        let index = {
            let mut memo = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            match memo.as_ref() {
                Some((seen, index)) if *seen == version => index.clone(),
                _ => {
                    let all = store.state();
                    let keys: Vec<(String, String)> = all.iter().map(|p| pair_key(p)).collect();
                    let pairs: Vec<PairSites<'_>> = all
                        .iter()
                        .zip(&keys)
                        .map(|(p, (k, c))| PairSites {
                            key: k,
                            created: c,
                            sites: pair_sites(p),
                        })
                        .collect();
                    let index = Arc::new(crate::plan::claims::ClaimIndex::build(&pairs));
                    *memo = Some((version, index.clone()));
                    index
                }
            }
        };
        let (key, created) = pair_key(obj);
        index.claimed_elsewhere(&PairSites {
            key: &key,
            created: &created,
            sites: pair_sites(obj),
        })
    }

    /// Leads, and the renew deadline has not passed: checked before every
    /// write to the API server or a site.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire) && self.leader_until.open()
    }

    /// A new leadership term: every object is read fresh once again.
    pub fn new_term(&self) {
        self.memory.update_all(|m| {
            m.seen_in_term = false;
            m.known_version = None;
        });
    }

    /// Remember the resourceVersion of `key` as current (just written or
    /// read fresh): a copy at that version holds the status written or read.
    pub fn remember_version(&self, key: &PairKey, version: Option<&str>) {
        let version = version.map(str::to_string);
        self.memory.update(key, |m| m.known_version = version);
    }

    /// Whether `version` is the one last remembered for `key` (a copy at
    /// no version is never vouched for). Comparing versions, not statuses:
    /// a copy changed by anyone since, even with the same status, is read
    /// fresh, and no status is serialised to tell.
    pub fn is_known_version(&self, key: &PairKey, version: Option<&str>) -> bool {
        version.is_some()
            && self
                .memory
                .read(key, |m| m.known_version.as_deref() == version)
    }

    /// Whether the pair's gauges already show the status at `version`.
    pub fn gauges_show(&self, key: &PairKey, version: Option<&str>) -> bool {
        version.is_some() && self.memory.read(key, |m| m.gauges_at.as_deref() == version)
    }

    /// The pair's gauges now show the status at `version`.
    pub fn gauges_shown(&self, key: &PairKey, version: Option<&str>) {
        let version = version.map(str::to_string);
        self.memory.update(key, |m| m.gauges_at = version);
    }

    /// Whether `key` was read fresh in this term.
    pub fn seen_in_term(&self, key: &PairKey) -> bool {
        self.memory.read(key, |m| m.seen_in_term)
    }

    /// `key` was read fresh in this term.
    pub fn mark_seen(&self, key: &PairKey) {
        self.memory.update(key, |m| m.seen_in_term = true);
    }

    /// Forget a pair that went away: all of its memory and its metric
    /// series.
    pub fn forget(&self, key: &PairKey) {
        self.metrics.pairs.forget_pair(&key.namespace, &key.name);
        self.memory.forget(key);
    }

    /// Forget all of every pair `exists` says is gone (its memory and its
    /// metric series, also of a pair known only to the metrics), and
    /// Secrets, site clients and source entries unused for a while: the
    /// maps hold only what live pairs use.
    pub fn prune(&self, exists: impl Fn(&PairKey) -> bool, now: std::time::Instant) {
        let mut gone: std::collections::BTreeSet<PairKey> =
            self.memory.prune(&exists).into_iter().collect();
        let tracked = self.metrics.pairs.tracked_pairs();
        gone.extend(
            tracked
                .iter()
                .filter_map(|k| PairKey::parse(k))
                .filter(|k| !exists(k)),
        );
        for key in &gone {
            self.metrics.pairs.forget_pair(&key.namespace, &key.name);
        }
        self.secrets.prune(now);
        self.site_clients.prune(now);
        self.source.prune(now);
    }

    /// How many pairs something is remembered of (for tests and logs).
    pub fn tracked_objects(&self) -> usize {
        self.memory.len()
    }

    /// Record a failure of `key` and return how long to back off: 1s,
    /// doubling, at most 5 minutes.
    pub fn backoff(&self, key: &PairKey) -> Duration {
        self.memory.update(key, |m| {
            m.failures = m.failures.saturating_add(1);
            backoff_delay(m.failures)
        })
    }

    /// Forget the failures of `key` after a successful reconcile.
    pub fn reset_backoff(&self, key: &PairKey) {
        self.memory.update(key, |m| m.failures = 0);
    }
}

/// Back-off after `attempts` failures in a row: 1s, 2s, 4s, ... at most 5 minutes.
pub fn backoff_delay(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    Duration::from_secs((1u64 << exp).min(300))
}

/// namespace/name and creationTimestamp of a pair, as claims compare them.
fn pair_key(p: &crate::api::SiteHAPair) -> (String, String) {
    (
        PairKey::of(p).to_string(),
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    )
}

/// (site name, adminUrl) of each of a pair's sites.
fn pair_sites(p: &crate::api::SiteHAPair) -> Vec<(&str, &str)> {
    p.spec
        .sites
        .iter()
        .map(|s| (s.name.as_str(), s.admin_url.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SiteHAPairStatus;
    use std::time::Instant;

    /// A context whose client points nowhere (nothing here calls it).
    fn offline_context(cache: &std::path::Path) -> Context {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let client = Client::try_from(config).expect("client");
        Context::new(
            client.clone(),
            "test",
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(true)),
            Arc::new(SourceCache::new(
                cache.to_path_buf(),
                Duration::from_secs(5),
            )),
            Arc::new(SecretStore::unwatched(client)),
            false,
        )
    }

    fn pair(
        name: &str,
        uid: &str,
        generation: i64,
        created: &str,
        url: &str,
    ) -> crate::api::SiteHAPair {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "sitehapair.io/v1alpha1",
            "kind": "SiteHAPair",
            "metadata": {"name": name, "namespace": "ns", "uid": uid,
                         "generation": generation, "creationTimestamp": created},
            "spec": {
                "activeSite": "east",
                "sites": [
                    {"name": "east", "adminUrl": url, "credentialsSecretRef": {"name": "e"},
                     "trafficAddresses": ["192.0.2.10"]},
                    {"name": "west", "adminUrl": format!("{url}-w"), "credentialsSecretRef": {"name": "w"},
                     "trafficAddresses": ["192.0.2.11"]}
                ]
            }
        }))
        .expect("pair")
    }

    #[tokio::test]
    async fn the_claim_index_follows_spec_changes_and_ignores_status_writes() {
        use kube::runtime::watcher::Event;
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = offline_context(dir.path());
        let (reader, mut writer) = kube::runtime::reflector::store();
        let _ = ctx.pairs.set(reader);
        let mut feed = |e: Event<crate::api::SiteHAPair>| {
            writer.apply_watcher_event(&e);
            ctx.note_pair_event(&e);
        };
        let old = pair("a", "ua", 1, "2026-01-01T00:00:00Z", "https://east.example");
        let new = pair(
            "b",
            "ub",
            1,
            "2026-02-01T00:00:00Z",
            "https://EAST.example/",
        );
        feed(Event::Apply(old.clone()));
        feed(Event::Apply(new.clone()));
        let claimed = ctx.claimed_elsewhere(&new);
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert!(claimed[0].contains("pair ns/a"), "{claimed:?}");
        assert!(ctx.claimed_elsewhere(&old).is_empty());

        // A status write (same generation) leaves the index as it was.
        let version = ctx.claims_version.load(Ordering::Acquire);
        let mut written = old.clone();
        written.status = Some(SiteHAPairStatus {
            epoch: 4,
            ..SiteHAPairStatus::default()
        });
        feed(Event::Apply(written));
        assert_eq!(ctx.claims_version.load(Ordering::Acquire), version);

        // The older pair lets go of the site (a new generation): b owns it.
        feed(Event::Apply(pair(
            "a",
            "ua",
            2,
            "2026-01-01T00:00:00Z",
            "https://other.example",
        )));
        assert!(ctx.claimed_elsewhere(&new).is_empty());
        // ... and takes it back, then is deleted.
        let back = pair("a", "ua", 3, "2026-01-01T00:00:00Z", "https://east.example");
        feed(Event::Apply(back.clone()));
        assert_eq!(ctx.claimed_elsewhere(&new).len(), 1);
        feed(Event::Delete(back));
        assert!(ctx.claimed_elsewhere(&new).is_empty());
    }

    fn key(shown: &str) -> PairKey {
        PairKey::parse(shown).expect("namespace/name")
    }

    #[tokio::test]
    async fn prune_forgets_the_state_of_pairs_that_are_gone_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = offline_context(dir.path());
        for k in ["ns/kept", "ns/deleted", "other/moved"] {
            ctx.backoff(&key(k));
            ctx.mark_seen(&key(k));
            ctx.remember_version(&key(k), Some("1"));
        }
        // Metric series, also of a pair known only to the metrics.
        for name in ["kept", "deleted", "metrics-only"] {
            ctx.metrics
                .pairs
                .observe_pair("ns", name, &SiteHAPairStatus::default());
        }
        assert_eq!(ctx.tracked_objects(), 3);
        ctx.prune(|k| *k == key("ns/kept"), Instant::now());
        assert_eq!(ctx.tracked_objects(), 1);
        assert_eq!(ctx.metrics.pairs.tracked_pairs(), ["ns/kept"]);
        let text = ctx.metrics.render();
        assert!(text.contains("pair=\"kept\""), "{text}");
        assert!(!text.contains("pair=\"deleted\""), "{text}");
        assert!(!text.contains("pair=\"metrics-only\""), "{text}");
        assert!(ctx.seen_in_term(&key("ns/kept")));
        assert!(!ctx.seen_in_term(&key("ns/deleted")));
        // The kept pair's failure count went on; the others start afresh.
        assert_eq!(ctx.backoff(&key("ns/kept")), Duration::from_secs(2));
        assert_eq!(ctx.backoff(&key("ns/deleted")), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn forget_and_prune_drop_every_kind_of_a_pairs_memory_and_keep_the_others() {
        use super::super::pair_memory::PairMemory;
        use kube::runtime::watcher::Event;
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = offline_context(dir.path());
        let now = Instant::now();
        let pairs = [
            pair("a", "ua", 1, "2026-01-01T00:00:00Z", "https://a.example"),
            pair("b", "ub", 1, "2026-01-01T00:00:00Z", "https://b.example"),
            pair("c", "uc", 1, "2026-01-01T00:00:00Z", "https://c.example"),
        ];
        for p in &pairs {
            let k = PairKey::of(p);
            ctx.note_pair_event(&Event::Apply(p.clone()));
            ctx.backoff(&k);
            ctx.mark_seen(&k);
            ctx.remember_version(&k, Some("1"));
            ctx.gauges_shown(&k, Some("1"));
            ctx.traffic.record(&k, 7, Vec::new());
            ctx.listings
                .matched(&k, "east", "\"1\"", "u#p@r1", std::time::Instant::now());
            ctx.listings.info_was_read(&k, "east", now);
            ctx.metrics
                .pairs
                .observe_pair(&k.namespace, &k.name, &SiteHAPairStatus::default());
        }
        let [a, b, c] = pairs.each_ref().map(PairKey::of);
        let memory_of = |k: &PairKey| ctx.memory.read(k, Clone::clone);
        let full = memory_of(&c);
        assert!(
            full.failures == 1
                && full.seen_in_term
                && full.known_version.is_some()
                && full.gauges_at.is_some()
                && full.generation.is_some()
                && full.traffic.is_some()
                && !full.listings.is_empty()
                && !full.info_read.is_empty(),
            "{full:?}"
        );
        // Forgotten: every kind at once, metric series too.
        ctx.forget(&a);
        assert_eq!(memory_of(&a), PairMemory::default());
        assert_eq!(ctx.listings.etag_for(&a, "east", "u#p@r1"), None);
        assert!(ctx.listings.info_due(&a, "east", now));
        assert!(!ctx.seen_in_term(&a) && !ctx.is_known_version(&a, Some("1")));
        assert!(!ctx.gauges_show(&a, Some("1")));
        assert_eq!(ctx.tracked_objects(), 2);
        // Pruned: b is gone, c stays exactly as it was.
        ctx.prune(|k| *k == c, now);
        assert_eq!(memory_of(&b), PairMemory::default());
        assert_eq!(memory_of(&c), full);
        assert_eq!(ctx.tracked_objects(), 1);
        assert_eq!(ctx.metrics.pairs.tracked_pairs(), ["ns/c"]);
        assert_eq!(ctx.backoff(&b), Duration::from_secs(1));
        assert_eq!(ctx.backoff(&c), Duration::from_secs(2));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(2), Duration::from_secs(2));
        assert_eq!(backoff_delay(5), Duration::from_secs(16));
        assert_eq!(backoff_delay(40), Duration::from_secs(300));
    }
}
