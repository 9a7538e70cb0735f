//! Traffic objects are written only when what they hold changes: a memo of
//! what each pair's last traffic apply wrote (a hash of the objects and the
//! resourceVersions the API server gave them), checked against metadata
//! watches of the operator's Services and EndpointSlices. An edit or
//! deletion by anyone else changes a resourceVersion (and the watch
//! triggers the pair's reconcile through the Controller), so it is put back.
//!
//! The memo and the watches are also what every traffic write is
//! conditioned on (`known`): the resourceVersion this replica got back from
//! its own last write of an object, else the one its watch holds.
//!
//! The memo is kept in the pair's memory (`pair_memory`), forgotten with
//! the rest of the pair.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use super::pair_key::PairKey;
use super::pair_memory::PairMemories;
use crate::traffic::objects::TrafficObjects;
use crate::traffic::{Applied, Known, Seen, TrafficKind};

/// How long a traffic write waits for the watches' first list.
const STORE_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The watches' stores of the operator's traffic objects (metadata only).
pub struct TrafficStores {
    pub services: Store<PartialObjectMeta<Service>>,
    pub slices: Store<PartialObjectMeta<EndpointSlice>>,
}

#[derive(Default)]
pub struct TrafficMemo {
    /// Where what each pair's last apply wrote is kept.
    memory: Arc<PairMemories>,
    /// Set when the controller starts its watches; without them nothing is
    /// taken as unchanged.
    pub stores: OnceLock<TrafficStores>,
}

/// What a pair's traffic objects are built from, as a hash (in memory
/// only: DefaultHasher is fine): the pair's uid (its owner reference), its
/// spec by generation and the site they point at. The same inputs build
/// the same objects, so a trip at rest builds nothing; None when the object
/// carries no uid or generation (then the built objects are hashed).
pub fn inputs_hash(obj: &crate::api::SiteHAPair, site: Option<&str>) -> Option<u64> {
    let uid = obj.metadata.uid.as_deref()?;
    let generation = obj.metadata.generation?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (uid, generation, site).hash(&mut h);
    Some(h.finish())
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
    /// A memo kept in `memory`, the pairs' memory.
    pub fn new(memory: Arc<PairMemories>) -> Self {
        Self {
            memory,
            stores: OnceLock::new(),
        }
    }

    /// Does the cluster still hold exactly what this replica last applied
    /// for `key`, and is that what `hash` asks for?
    pub fn unchanged(&self, key: &PairKey, namespace: &str, hash: u64) -> bool {
        let Some(stores) = self.stores.get() else {
            return false;
        };
        self.memory.read(key, |m| {
            m.traffic.as_ref().is_some_and(|(h, objects)| {
                *h == hash && Self::as_watched(stores, namespace, objects)
            })
        })
    }

    /// Do the watches show every one of `objects` at the resourceVersion
    /// this replica got back for it?
    fn as_watched(stores: &TrafficStores, namespace: &str, objects: &[Applied]) -> bool {
        objects.iter().all(|a| {
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

    /// What a write of `objs` for `key` is conditioned on: for each of the
    /// pair's objects (those to apply and those this replica last applied),
    /// what this replica last wrote (its content vouched for only while the
    /// watch shows that very version), else what the watch shows (once it
    /// has listed), else nothing: the object is not known to exist.
    pub async fn known(&self, key: &PairKey, namespace: &str, objs: &TrafficObjects) -> Known {
        let stores = self.stores.get();
        if let Some(s) = stores {
            // Before its first list a store knows nothing, not "absent";
            // a watch that cannot list (no RBAC) is not waited on for ever.
            let ready = async {
                let _ = s.services.wait_until_ready().await;
                let _ = s.slices.wait_until_ready().await;
            };
            let _ = tokio::time::timeout(STORE_READY_WAIT, ready).await;
        }
        let mine: Vec<Applied> = self.memory.read(key, |m| {
            m.traffic
                .as_ref()
                .map(|(_, a)| a.clone())
                .unwrap_or_default()
        });
        let watched = |kind: TrafficKind, name: &str| {
            let stores = stores?;
            let meta = match kind {
                TrafficKind::Service => stores
                    .services
                    .get(&ObjectRef::new(name).within(namespace))?
                    .metadata
                    .clone(),
                TrafficKind::EndpointSlice => stores
                    .slices
                    .get(&ObjectRef::new(name).within(namespace))?
                    .metadata
                    .clone(),
            };
            Seen::of_meta(&meta)
        };
        let mut names: Vec<(TrafficKind, String)> = vec![(
            TrafficKind::Service,
            kube::ResourceExt::name_any(&objs.service),
        )];
        names.extend(
            objs.slices
                .iter()
                .map(|s| (TrafficKind::EndpointSlice, kube::ResourceExt::name_any(s))),
        );
        names.extend(mine.iter().map(|a| (a.kind, a.name.clone())));
        let mut known = Known::new();
        for (kind, name) in names {
            let watch = watched(kind, &name);
            let seen = match mine.iter().find(|a| a.kind == kind && a.name == name) {
                Some(a) => {
                    let mut seen = Seen::of_applied(a);
                    // Someone else's write, or a watch behind this
                    // replica's own: the content is not vouched for.
                    if watch.as_ref().map(|w| &w.resource_version) != Some(&a.resource_version) {
                        seen.hash = None;
                    }
                    seen
                }
                None => match watch {
                    Some(w) => w,
                    None => continue,
                },
            };
            known.insert((kind, name), seen);
        }
        known
    }

    /// The pair's EndpointSlices as the watch shows them, once it has
    /// listed (None before that, or without the watch: the caller lists).
    /// A slice another writer made an instant ago may not be shown yet;
    /// every write is still guarded by the resourceVersion it was planned
    /// on, and a slice is made only by the Lease holder.
    pub fn pair_slices(
        &self,
        namespace: &str,
        pair: &str,
    ) -> Option<std::collections::BTreeMap<String, Seen>> {
        use futures::FutureExt;
        let stores = self.stores.get()?;
        if !matches!(
            stores.slices.wait_until_ready().now_or_never(),
            Some(Ok(()))
        ) {
            return None;
        }
        let label = crate::traffic::objects::LABEL_PAIR;
        Some(
            stores
                .slices
                .state()
                .iter()
                .filter(|m| m.metadata.namespace.as_deref() == Some(namespace))
                .filter(|m| {
                    m.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(label))
                        .is_some_and(|p| p == pair)
                })
                .filter_map(|m| {
                    Some((
                        kube::ResourceExt::name_any(m.as_ref()),
                        Seen::of_meta(&m.metadata)?,
                    ))
                })
                .collect(),
        )
    }

    /// The pair's traffic objects were applied as `objects`, from what
    /// hashes to `hash`.
    pub fn record(&self, key: &PairKey, hash: u64, objects: Vec<Applied>) {
        self.memory
            .update(key, |m| m.traffic = Some((hash, objects)));
    }

    /// What this replica applied for the pair is not known (a write that
    /// failed or may have landed): only the watches count. The rest of
    /// the pair's memory stays.
    pub fn forget(&self, key: &PairKey) {
        self.memory.update(key, |m| m.traffic = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::runtime::{reflector, watcher};

    fn meta<K>(name: &str, rv: &str) -> PartialObjectMeta<K> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            _phantom: std::marker::PhantomData,
        }
    }

    fn objs() -> TrafficObjects {
        let named = |n: &str| ObjectMeta {
            name: Some(n.into()),
            ..ObjectMeta::default()
        };
        TrafficObjects {
            service: Service {
                metadata: named("gis"),
                ..Service::default()
            },
            slices: vec![EndpointSlice {
                metadata: named("gis-ipv4"),
                address_type: "IPv4".into(),
                endpoints: None,
                ports: None,
            }],
        }
    }

    fn applied(kind: TrafficKind, name: &str, rv: &str) -> Applied {
        Applied {
            kind,
            name: name.into(),
            resource_version: rv.into(),
            uid: Some(format!("uid-{name}")),
            hash: 7,
            site: Some("east".into()),
        }
    }

    /// A memo whose watches list `services` and `slices`.
    fn memo(
        services: Vec<PartialObjectMeta<Service>>,
        slices: Vec<PartialObjectMeta<EndpointSlice>>,
    ) -> TrafficMemo {
        let (svc_r, mut svc_w) = reflector::store();
        let (slice_r, mut slice_w) = reflector::store();
        svc_w.apply_watcher_event(&watcher::Event::Init);
        for s in services {
            svc_w.apply_watcher_event(&watcher::Event::InitApply(s));
        }
        svc_w.apply_watcher_event(&watcher::Event::InitDone);
        slice_w.apply_watcher_event(&watcher::Event::Init);
        for s in slices {
            slice_w.apply_watcher_event(&watcher::Event::InitApply(s));
        }
        slice_w.apply_watcher_event(&watcher::Event::InitDone);
        let m = TrafficMemo::default();
        let _ = m.stores.set(TrafficStores {
            services: svc_r,
            slices: slice_r,
        });
        m
    }

    #[tokio::test]
    async fn writes_are_conditioned_on_this_replicas_last_write_else_the_watch() {
        let m = memo(
            vec![meta("gis", "3")],
            vec![meta("gis-ipv4", "6"), meta("gis-ipv6", "8")],
        );
        let gis = PairKey::new("ns", "gis");
        m.record(
            &gis,
            1,
            vec![
                applied(TrafficKind::EndpointSlice, "gis-ipv4", "5"),
                applied(TrafficKind::EndpointSlice, "gis-ipv6", "8"),
            ],
        );
        let known = m.known(&gis, "ns", &objs()).await;
        let get = |k: TrafficKind, n: &str| known.get(&(k, n.to_string())).cloned();
        // Not in the memo: the watch's version, content unknown.
        let svc = get(TrafficKind::Service, "gis").expect("service");
        assert_eq!((svc.resource_version.as_str(), svc.hash), ("3", None));
        assert_eq!(svc.uid.as_deref(), Some("uid-gis"));
        // Moved since this replica wrote it: its own version (the write is
        // refused and planned again), content not vouched for.
        let v4 = get(TrafficKind::EndpointSlice, "gis-ipv4").expect("ipv4");
        assert_eq!((v4.resource_version.as_str(), v4.hash), ("5", None));
        assert_eq!(v4.site.as_deref(), Some("east"));
        // As written and as watched: content known. Kept though no longer
        // wanted, so that its deletion is conditioned too.
        let v6 = get(TrafficKind::EndpointSlice, "gis-ipv6").expect("ipv6");
        assert_eq!((v6.resource_version.as_str(), v6.hash), ("8", Some(7)));
        // Forgotten: the watch alone.
        m.forget(&gis);
        let known = m.known(&gis, "ns", &objs()).await;
        let v4 = known
            .get(&(TrafficKind::EndpointSlice, "gis-ipv4".to_string()))
            .expect("ipv4");
        assert_eq!(v4.resource_version, "6");
        assert!(
            !known.contains_key(&(TrafficKind::EndpointSlice, "gis-ipv6".to_string())),
            "not wanted, not remembered: listed by the apply itself"
        );
    }

    #[tokio::test]
    async fn an_object_seen_nowhere_is_not_known() {
        let m = memo(vec![], vec![]);
        let gis = PairKey::new("ns", "gis");
        assert!(m.known(&gis, "ns", &objs()).await.is_empty());
    }
}
