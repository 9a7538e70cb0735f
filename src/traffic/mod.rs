//! Traffic: the Service and EndpointSlices (or ExternalName Service) that
//! send client traffic to the active site. `objects` builds them purely,
//! `switch` orders a pair's slice writes purely; this module applies them
//! with server-side apply and removes them.
//!
//! Every write is conditional: it carries the resourceVersion and uid of
//! the object as this replica last wrote or saw it, and the API server
//! refuses it (409) if the object moved or went since. So a write that
//! lands late (after a client-side timeout, after a new leader moved the
//! traffic) changes nothing.

pub mod objects;
pub mod switch;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use serde::Serialize;
use thiserror::Error;

use crate::api::FIELD_MANAGER;
use objects::{LABEL_PAIR, TrafficObjects};
use switch::{Held, SliceWrite, Wanted};

#[derive(Debug, Error)]
pub enum TrafficError {
    #[error("applying {kind} {namespace}/{name}: {source}")]
    Apply {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("removing {kind} of pair {namespace}/{pair}: {source}")]
    Remove {
        kind: &'static str,
        namespace: String,
        pair: String,
        #[source]
        source: kube::Error,
    },
    #[error("listing the EndpointSlices of pair {namespace}/{pair}: {source}")]
    List {
        namespace: String,
        pair: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "traffic object {kind} {namespace}/{name} moved since it was read (resourceVersion {resource_version}); planning again"
    )]
    Moved {
        kind: &'static str,
        namespace: String,
        name: String,
        resource_version: String,
    },
}

/// One object as applied: kind, name, the resourceVersion and uid it got,
/// a hash of what was written and, for a slice, the site it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: TrafficKind,
    pub name: String,
    pub resource_version: String,
    pub uid: Option<String>,
    pub hash: u64,
    pub site: Option<String>,
}

/// The kinds of traffic objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficKind {
    Service,
    EndpointSlice,
}

impl TrafficKind {
    fn as_str(self) -> &'static str {
        match self {
            TrafficKind::Service => "Service",
            TrafficKind::EndpointSlice => "EndpointSlice",
        }
    }
}

/// One traffic object as this replica knows it: the version a write is
/// conditioned on, its uid, a hash of its content when it is known to hold
/// exactly what this replica wrote, and for a slice the site it points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub resource_version: String,
    pub uid: Option<String>,
    pub hash: Option<u64>,
    pub site: Option<String>,
}

impl Seen {
    /// What an object's metadata tells (content unknown).
    pub fn of_meta(meta: &ObjectMeta) -> Option<Seen> {
        Some(Seen {
            resource_version: meta.resource_version.clone()?,
            uid: meta.uid.clone(),
            hash: None,
            site: objects::slice_site(meta),
        })
    }

    /// What this replica's own write left (content known).
    pub fn of_applied(a: &Applied) -> Seen {
        Seen {
            resource_version: a.resource_version.clone(),
            uid: a.uid.clone(),
            hash: Some(a.hash),
            site: a.site.clone(),
        }
    }
}

/// What a replica knows of a pair's traffic objects, by kind and name.
pub type Known = BTreeMap<(TrafficKind, String), Seen>;

/// A hash of one object as built (in memory only: DefaultHasher is fine).
pub fn object_hash<T: Serialize>(obj: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(obj).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Make the cluster hold exactly `objs` for the pair: apply the Service and
/// slices, delete slices of the pair that are no longer wanted. Each write
/// is conditioned on `known` (this replica's last write or its watch),
/// else on a list of the pair's slices taken now; an object known nowhere
/// is created. A switch of more than one slice drains first (see
/// `switch`); objects whose content `known` vouches for are not written.
/// Returns what the pair's objects now are, with resourceVersions.
pub async fn apply_guarded(
    client: &Client,
    namespace: &str,
    pair: &str,
    objs: &TrafficObjects,
    known: &Known,
) -> Result<Vec<Applied>, TrafficError> {
    apply_guarded_on(client, namespace, pair, objs, known, None).await
}

/// `apply_guarded`, with the pair's slices as a watch that has listed
/// shows them (`watched`), instead of a list taken now: one API round trip
/// fewer on every traffic switch. None: they are listed.
pub async fn apply_guarded_on(
    client: &Client,
    namespace: &str,
    pair: &str,
    objs: &TrafficObjects,
    known: &Known,
    watched: Option<BTreeMap<String, Seen>>,
) -> Result<Vec<Applied>, TrafficError> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let mut applied = Vec::new();

    let svc_name = objs.service.name_any();
    let svc_key = (TrafficKind::Service, svc_name.clone());
    let svc_hash = object_hash(&objs.service);
    let svc_seen = known.get(&svc_key);
    let svc = match svc_seen.filter(|s| s.hash == Some(svc_hash)) {
        Some(seen) => seen.clone(),
        None => {
            let got = write(&services, namespace, &objs.service, svc_seen).await?;
            seen_after(&got.metadata, svc_hash, None)
        }
    };
    applied.push(applied_of(TrafficKind::Service, svc_name, svc));

    // The pair's slices as they are now: those known, and those the watch
    // shows or a list finds.
    let listed: BTreeMap<String, Seen> = match watched {
        Some(w) => w,
        None => slices
            .list_metadata(&ListParams::default().labels(&format!("{LABEL_PAIR}={pair}")))
            .await
            .map_err(|source| TrafficError::List {
                namespace: namespace.to_string(),
                pair: pair.to_string(),
                source,
            })?
            .items
            .iter()
            .filter_map(|m| Some((m.name_any(), Seen::of_meta(&m.metadata)?)))
            .collect(),
    };
    let mut current: BTreeMap<String, Seen> = listed.clone();
    for ((kind, name), seen) in known {
        if *kind == TrafficKind::EndpointSlice {
            current.insert(name.clone(), seen.clone());
        }
    }
    let held: Vec<Held> = current
        .iter()
        .map(|(name, seen)| Held {
            name: name.clone(),
            site: seen.site.clone(),
        })
        .collect();
    let wanted: Vec<Wanted> = objs
        .slices
        .iter()
        .map(|s| Wanted {
            name: s.name_any(),
            site: objects::slice_site(&s.metadata),
            changes: current.get(&s.name_any()).and_then(|c| c.hash) != Some(object_hash(s)),
        })
        .collect();

    for step in switch::switch_writes(&held, &wanted) {
        let drain = matches!(step, SliceWrite::Drain(_));
        match step {
            SliceWrite::Drain(name) | SliceWrite::Fill(name) => {
                let Some(slice) = objs.slices.iter().find(|s| s.name_any() == name) else {
                    continue;
                };
                let body = if drain {
                    objects::drained(slice)
                } else {
                    slice.clone()
                };
                let got = write(&slices, namespace, &body, current.get(&name)).await?;
                let seen = seen_after(
                    &got.metadata,
                    object_hash(&body),
                    objects::slice_site(&body.metadata),
                );
                current.insert(name, seen);
            }
            SliceWrite::Delete(name) => {
                // Gone already (known, not listed): nothing to delete.
                if listed.contains_key(&name)
                    && let Some(seen) = current.get(&name)
                {
                    delete(&slices, namespace, &name, seen).await?;
                }
                current.remove(&name);
            }
        }
    }
    for slice in &objs.slices {
        let name = slice.name_any();
        if let Some(seen) = current.get(&name) {
            applied.push(applied_of(TrafficKind::EndpointSlice, name, seen.clone()));
        }
    }
    Ok(applied)
}

fn seen_after(meta: &ObjectMeta, hash: u64, site: Option<String>) -> Seen {
    Seen {
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        uid: meta.uid.clone(),
        hash: Some(hash),
        site,
    }
}

fn applied_of(kind: TrafficKind, name: String, seen: Seen) -> Applied {
    Applied {
        kind,
        name,
        resource_version: seen.resource_version,
        uid: seen.uid,
        hash: seen.hash.unwrap_or_default(),
        site: seen.site,
    }
}

/// The kind name of a traffic object type.
trait Kind {
    const KIND: TrafficKind;
}
impl Kind for Service {
    const KIND: TrafficKind = TrafficKind::Service;
}
impl Kind for EndpointSlice {
    const KIND: TrafficKind = TrafficKind::EndpointSlice;
}

/// Server-side apply `obj`, conditioned on `seen` (its resourceVersion and
/// uid: the API server refuses it if the object moved or went); with
/// nothing seen, the object is created (or taken over).
async fn write<K>(
    api: &Api<K>,
    namespace: &str,
    obj: &K,
    seen: Option<&Seen>,
) -> Result<K, TrafficError>
where
    K: kube::Resource + Kind + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj.name_any();
    let mut body = obj.clone();
    if let Some(seen) = seen {
        body.meta_mut().resource_version = Some(seen.resource_version.clone());
        body.meta_mut().uid = seen.uid.clone();
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch(&name, &pp, &Patch::Apply(&body)).await {
        Ok(got) => Ok(got),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(TrafficError::Moved {
            kind: K::KIND.as_str(),
            namespace: namespace.to_string(),
            name,
            resource_version: seen.map(|s| s.resource_version.clone()).unwrap_or_default(),
        }),
        Err(source) => Err(TrafficError::Apply {
            kind: K::KIND.as_str(),
            namespace: namespace.to_string(),
            name,
            source,
        }),
    }
}

/// Delete an object, conditioned on `seen`; absent is done.
async fn delete<K>(
    api: &Api<K>,
    namespace: &str,
    name: &str,
    seen: &Seen,
) -> Result<(), TrafficError>
where
    K: kube::Resource + Kind + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(seen.resource_version.clone()),
            uid: seen.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(TrafficError::Moved {
            kind: K::KIND.as_str(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            resource_version: seen.resource_version.clone(),
        }),
        Err(source) => Err(TrafficError::Apply {
            kind: K::KIND.as_str(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        }),
    }
}

/// Remove every traffic object of the pair (on deletion of the pair), each
/// deletion conditioned on the version it was listed at.
pub async fn remove(client: &Client, namespace: &str, pair: &str) -> Result<(), TrafficError> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    delete_labelled(&slices, namespace, pair).await?;
    delete_labelled(&services, namespace, pair).await
}

/// Delete the pair's objects of one kind (found by the pair label).
async fn delete_labelled<K>(api: &Api<K>, namespace: &str, pair: &str) -> Result<(), TrafficError>
where
    K: kube::Resource + Kind + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let lp = ListParams::default().labels(&format!("{LABEL_PAIR}={pair}"));
    let listed = api
        .list_metadata(&lp)
        .await
        .map_err(|source| TrafficError::Remove {
            kind: K::KIND.as_str(),
            namespace: namespace.to_string(),
            pair: pair.to_string(),
            source,
        })?;
    for obj in listed.items {
        if let Some(seen) = Seen::of_meta(&obj.metadata) {
            delete(api, namespace, &obj.name_any(), &seen).await?;
        }
    }
    Ok(())
}
