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

/// Make the cluster hold exactly `objs` for the pair: apply the Service and
/// slices, delete slices of the pair that are no longer wanted.
pub async fn apply(
    client: &Client,
    namespace: &str,
    pair: &str,
    objs: &TrafficObjects,
) -> Result<(), TrafficError> {
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let svc_name = objs.service.name_any();
    services
        .patch(&svc_name, &pp, &Patch::Apply(&objs.service))
        .await
        .map_err(|source| TrafficError::Apply {
            kind: "Service",
            namespace: namespace.to_string(),
            name: svc_name.clone(),
            source,
        })?;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    for slice in &objs.slices {
        let name = slice.name_any();
        slices
            .patch(&name, &pp, &Patch::Apply(slice))
            .await
            .map_err(|source| TrafficError::Apply {
                kind: "EndpointSlice",
                namespace: namespace.to_string(),
                name: name.clone(),
                source,
            })?;
    }
    let wanted: Vec<String> = objs.slices.iter().map(ResourceExt::name_any).collect();
    let lp = ListParams::default().labels(&format!("{LABEL_PAIR}={pair}"));
    let existing = slices
        .list_metadata(&lp)
        .await
        .map_err(|source| TrafficError::Remove {
            kind: "EndpointSlice",
            namespace: namespace.to_string(),
            pair: pair.to_string(),
            source,
        })?;
    for old in existing.items {
        let name = old.name_any();
        if !wanted.contains(&name) {
            delete_ignoring_absent(&slices, &name)
                .await
                .map_err(|source| TrafficError::Remove {
                    kind: "EndpointSlice",
                    namespace: namespace.to_string(),
                    pair: pair.to_string(),
                    source,
                })?;
        }
    }
    Ok(())
}

/// Remove every traffic object of the pair (on deletion of the pair).
pub async fn remove(client: &Client, namespace: &str, pair: &str) -> Result<(), TrafficError> {
    let lp = ListParams::default().labels(&format!("{LABEL_PAIR}={pair}"));
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let err = |kind: &'static str| {
        move |source| TrafficError::Remove {
            kind,
            namespace: namespace.to_string(),
            pair: pair.to_string(),
            source,
        }
    };
    for s in slices
        .list_metadata(&lp)
        .await
        .map_err(err("EndpointSlice"))?
        .items
    {
        delete_ignoring_absent(&slices, &s.name_any())
            .await
            .map_err(err("EndpointSlice"))?;
    }
    for s in services
        .list_metadata(&lp)
        .await
        .map_err(err("Service"))?
        .items
    {
        delete_ignoring_absent(&services, &s.name_any())
            .await
            .map_err(err("Service"))?;
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
