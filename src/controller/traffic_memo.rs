//! Traffic objects are written only when what they hold changes: a memo of
//! what each pair's last traffic apply wrote (a hash of the objects and the
//! resourceVersions the API server gave them), checked against metadata
//! watches of the operator's Services and EndpointSlices. An edit or
//! deletion by anyone else changes a resourceVersion (and the watch
//! triggers the pair's reconcile through the Controller), so it is put back.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::traffic::objects::TrafficObjects;
use crate::traffic::{Applied, TrafficKind};

/// The watches' stores of the operator's traffic objects (metadata only).
pub struct TrafficStores {
    pub services: Store<PartialObjectMeta<Service>>,
    pub slices: Store<PartialObjectMeta<EndpointSlice>>,
}

#[derive(Default)]
pub struct TrafficMemo {
    applied: Mutex<HashMap<String, (u64, Vec<Applied>)>>,
    /// Set when the controller starts its watches; without them nothing is
    /// taken as unchanged.
    pub stores: OnceLock<TrafficStores>,
}

/// A hash of the objects to apply (in memory only: DefaultHasher is fine).
pub fn objects_hash(objs: &TrafficObjects) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(&objs.service)
        .unwrap_or_default()
        .hash(&mut h);
    for s in &objs.slices {
        serde_json::to_vec(s).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

impl TrafficMemo {
    /// Does the cluster still hold exactly what this replica last applied
    /// for `key` (namespace/name), and is that what `hash` asks for?
    pub fn unchanged(&self, key: &str, namespace: &str, hash: u64) -> bool {
        let Some(stores) = self.stores.get() else {
            return false;
        };
        let Ok(applied) = self.applied.lock() else {
            return false;
        };
        let Some((h, objects)) = applied.get(key) else {
            return false;
        };
        *h == hash
            && objects.iter().all(|a| {
                let rv = match a.kind {
                    TrafficKind::Service => stores
                        .services
                        .get(&ObjectRef::new(&a.name).within(namespace))
                        .and_then(|o| o.metadata.resource_version.clone()),
                    TrafficKind::EndpointSlice => stores
                        .slices
                        .get(&ObjectRef::new(&a.name).within(namespace))
                        .and_then(|o| o.metadata.resource_version.clone()),
                };
                rv.as_deref() == Some(a.resource_version.as_str())
            })
    }

    pub fn record(&self, key: &str, hash: u64, objects: Vec<Applied>) {
        if let Ok(mut m) = self.applied.lock() {
            m.insert(key.to_string(), (hash, objects));
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = self.applied.lock() {
            m.remove(key);
        }
    }

    /// The pairs it holds an entry for.
    pub fn keys(&self) -> HashSet<String> {
        self.applied
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}
