//! Everything this replica remembers of one pair, in one map keyed by
//! [`PairKey`]: its failures in a row, whether it was read fresh in this
//! term and the version it can vouch for, the version its gauges show,
//! the generation the pair watch last delivered, what its traffic objects
//! were last applied as, and what each of its sites' listings matched and
//! when their `GET /info` was read. One `forget` and one `prune` drop all of a pair at once.
//! The context, the traffic memo and the listing memo share one map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::pair_key::PairKey;
use crate::traffic::Applied;

/// What a site's ETag was seen to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub(super) etag: String,
    /// The desired set it matched: source URL, folder and commit.
    pub(super) desired: String,
    /// When a listing last showed it.
    pub(super) at: Instant,
}

/// What is remembered of one pair; a blank memory is not kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PairMemory {
    /// Failed reconciles in a row, reset on success.
    pub failures: u32,
    /// Read fresh from the API server in this leadership term.
    pub seen_in_term: bool,
    /// The resourceVersion last written or read fresh in this term: a
    /// cached copy at exactly this version holds the status this replica
    /// wrote or read.
    pub known_version: Option<String>,
    /// The resourceVersion whose status the pair's gauges show.
    pub gauges_at: Option<String>,
    /// The uid and generation the pair watch last delivered.
    pub generation: Option<(String, Option<i64>)>,
    /// The hash of the traffic objects last applied, and what the API
    /// server gave back for each.
    pub traffic: Option<(u64, Vec<Applied>)>,
    /// By site: the ETag of its last listing that matched the revision.
    pub listings: HashMap<String, Matched>,
    /// By site: when its `GET /info` was last read.
    pub info_read: HashMap<String, Instant>,
}

impl PairMemory {
    fn is_blank(&self) -> bool {
        *self == Self::default()
    }
}

/// Every pair's memory.
#[derive(Default)]
pub struct PairMemories {
    map: Mutex<HashMap<PairKey, PairMemory>>,
}

impl PairMemories {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PairKey, PairMemory>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `f` reads from the memory of `key` (blank when there is none).
    pub fn read<T>(&self, key: &PairKey, f: impl FnOnce(&PairMemory) -> T) -> T {
        match self.lock().get(key) {
            Some(m) => f(m),
            None => f(&PairMemory::default()),
        }
    }

    /// Change the memory of `key` with `f`; a memory left blank is dropped.
    pub fn update<T>(&self, key: &PairKey, f: impl FnOnce(&mut PairMemory) -> T) -> T {
        let mut map = self.lock();
        let memory = map.entry(key.clone()).or_default();
        let out = f(memory);
        if memory.is_blank() {
            map.remove(key);
        }
        out
    }

    /// Change every pair's memory with `f`; memories left blank are dropped.
    pub fn update_all(&self, mut f: impl FnMut(&mut PairMemory)) {
        self.lock().retain(|_, m| {
            f(m);
            !m.is_blank()
        });
    }

    /// Drop everything remembered of `key`.
    pub fn forget(&self, key: &PairKey) {
        self.lock().remove(key);
    }

    /// Drop everything remembered of each pair `exists` says is gone;
    /// those pairs.
    pub fn prune(&self, exists: impl Fn(&PairKey) -> bool) -> Vec<PairKey> {
        let mut gone = Vec::new();
        self.lock().retain(|k, _| {
            let keep = exists(k);
            if !keep {
                gone.push(k.clone());
            }
            keep
        });
        gone
    }

    /// The pairs something is remembered of.
    pub fn keys(&self) -> Vec<PairKey> {
        self.lock().keys().cloned().collect()
    }

    /// How many pairs something is remembered of.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Of a pair's managedFields keep only who set spec.activeSite (what a
/// promotion's record names when no CLI recorded the user), trimmed to
/// that field: the rest costs memory at a thousand pairs and is never read.
pub(crate) fn keep_active_site_managers(p: &mut crate::api::SiteHAPair) {
    let Some(list) = p.metadata.managed_fields.take() else {
        return;
    };
    let kept: Vec<_> = list
        .into_iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:activeSite").is_some())
        })
        .map(|mut m| {
            m.fields_v1 = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(
                serde_json::json!({"f:spec": {"f:activeSite": {}}}),
            ));
            m
        })
        .collect();
    p.metadata.managed_fields = (!kept.is_empty()).then_some(kept);
}
