//! Traffic: the Service and EndpointSlices (or ExternalName Service) that
//! send client traffic to the active site. `objects` builds them purely;
//! this module applies them with server-side apply and removes them.

pub mod objects;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use thiserror::Error;

use crate::api::FIELD_MANAGER;
use objects::{LABEL_PAIR, TrafficObjects};

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
}

/// One object as applied: kind, name and the resourceVersion it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: TrafficKind,
    pub name: String,
    pub resource_version: String,
}

/// The kinds of traffic objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficKind {
    Service,
    EndpointSlice,
}

/// Make the cluster hold exactly `objs` for the pair: apply the Service and
/// slices, delete slices of the pair that are no longer wanted. Returns
/// what it applied, with resourceVersions.
pub async fn apply(
    client: &Client,
    namespace: &str,
    pair: &str,
    objs: &TrafficObjects,
) -> Result<Vec<Applied>, TrafficError> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let svc_name = objs.service.name_any();
    let mut applied = Vec::new();
    let svc = services
        .patch(&svc_name, &pp, &Patch::Apply(&objs.service))
        .await
        .map_err(|source| TrafficError::Apply {
            kind: "Service",
            namespace: namespace.to_string(),
            name: svc_name.clone(),
            source,
        })?;
    applied.push(Applied {
        kind: TrafficKind::Service,
        name: svc_name,
        resource_version: svc.resource_version().unwrap_or_default(),
    });
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    for slice in &objs.slices {
        let name = slice.name_any();
        let got = slices
            .patch(&name, &pp, &Patch::Apply(slice))
            .await
            .map_err(|source| TrafficError::Apply {
                kind: "EndpointSlice",
                namespace: namespace.to_string(),
                name: name.clone(),
                source,
            })?;
        applied.push(Applied {
            kind: TrafficKind::EndpointSlice,
            name,
            resource_version: got.resource_version().unwrap_or_default(),
        });
    }
    let wanted: Vec<String> = objs.slices.iter().map(ResourceExt::name_any).collect();
    delete_labelled(&slices, "EndpointSlice", namespace, pair, &wanted).await?;
    Ok(applied)
}

/// Remove every traffic object of the pair (on deletion of the pair).
pub async fn remove(client: &Client, namespace: &str, pair: &str) -> Result<(), TrafficError> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    delete_labelled(&slices, "EndpointSlice", namespace, pair, &[]).await?;
    delete_labelled(&services, "Service", namespace, pair, &[]).await
}

/// Delete the pair's objects of one kind (found by the pair label), but
/// those named in `keep`.
async fn delete_labelled<K>(
    api: &Api<K>,
    kind: &'static str,
    namespace: &str,
    pair: &str,
    keep: &[String],
) -> Result<(), TrafficError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let err = |source| TrafficError::Remove {
        kind,
        namespace: namespace.to_string(),
        pair: pair.to_string(),
        source,
    };
    let lp = ListParams::default().labels(&format!("{LABEL_PAIR}={pair}"));
    for obj in api.list_metadata(&lp).await.map_err(err)?.items {
        let name = obj.name_any();
        if !keep.contains(&name) {
            delete_ignoring_absent(api, &name).await.map_err(err)?;
        }
    }
    Ok(())
}

async fn delete_ignoring_absent<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
