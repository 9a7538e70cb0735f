//! The traffic objects of a pair, built purely from the spec and the active
//! site: a Service without selector plus an EndpointSlice of the active
//! site's trafficAddresses, or an ExternalName Service for trafficHostname.
//! No active site (the contact window of a forced promotion): the slice is
//! empty and traffic goes nowhere rather than to a site that may be stale.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::{SiteHAPairSpec, SiteSpec};

/// Label on every object the operator makes for a pair.
pub const LABEL_PAIR: &str = "sitehapair.io/pair";
/// Label naming the site the traffic objects point at.
pub const LABEL_ACTIVE_SITE: &str = "sitehapair.io/active-site";
/// EndpointSlice managed-by value.
pub const MANAGED_BY: &str = "sitehapair.io";

/// What should exist for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficObjects {
    pub service: Service,
    /// Slices by name; empty for an ExternalName Service.
    pub slices: Vec<EndpointSlice>,
}

/// The Service name of a pair.
pub fn service_name(pair: &str, spec: &SiteHAPairSpec) -> String {
    spec.traffic
        .service_name
        .clone()
        .unwrap_or_else(|| pair.to_string())
}

/// Build the traffic objects pointing at `active` (None: at nothing).
pub fn build(
    pair: &str,
    namespace: &str,
    spec: &SiteHAPairSpec,
    active: Option<&SiteSpec>,
    owner: OwnerReference,
) -> TrafficObjects {
    let name = service_name(pair, spec);
    let mut labels = BTreeMap::from([(LABEL_PAIR.to_string(), pair.to_string())]);
    if let Some(site) = active {
        labels.insert(LABEL_ACTIVE_SITE.to_string(), site.name.clone());
    }
    let meta = |obj_name: String, extra: &[(&str, &str)]| {
        let mut l = labels.clone();
        for (k, v) in extra {
            l.insert((*k).to_string(), (*v).to_string());
        }
        ObjectMeta {
            name: Some(obj_name),
            namespace: Some(namespace.to_string()),
            labels: Some(l),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        }
    };
    let ports: Vec<ServicePort> = spec
        .traffic
        .ports
        .iter()
        .map(|p| ServicePort {
            name: Some(p.name.clone()),
            port: p.port,
            target_port: Some(IntOrString::Int(p.target_port.unwrap_or(p.port))),
            protocol: Some("TCP".to_string()),
            ..ServicePort::default()
        })
        .collect();

    if let Some(host) = active.and_then(|s| s.traffic_hostname.as_ref()) {
        let service = Service {
            metadata: meta(name, &[]),
            spec: Some(ServiceSpec {
                type_: Some("ExternalName".to_string()),
                external_name: Some(host.clone()),
                ports: Some(ports),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        return TrafficObjects {
            service,
            slices: vec![],
        };
    }

    let service = Service {
        metadata: meta(name.clone(), &[]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let addresses: Vec<IpAddr> = active
        .and_then(|s| s.traffic_addresses.as_ref())
        .map(|a| a.iter().filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let endpoint_ports: Vec<EndpointPort> = spec
        .traffic
        .ports
        .iter()
        .map(|p| EndpointPort {
            name: Some(p.name.clone()),
            port: Some(p.target_port.unwrap_or(p.port)),
            protocol: Some("TCP".to_string()),
            ..EndpointPort::default()
        })
        .collect();
    let slice = |family: &str, suffix: &str, addrs: Vec<String>| EndpointSlice {
        metadata: {
            let mut m = meta(
                format!("{name}-{suffix}"),
                &[
                    ("kubernetes.io/service-name", name.as_str()),
                    ("endpointslice.kubernetes.io/managed-by", MANAGED_BY),
                ],
            );
            // A slice names a site only when it sends clients there: the
            // label is what a switch reads back from the metadata watch.
            if addrs.is_empty()
                && let Some(l) = m.labels.as_mut()
            {
                l.remove(LABEL_ACTIVE_SITE);
            }
            m
        },
        address_type: family.to_string(),
        endpoints: Some(if addrs.is_empty() {
            vec![]
        } else {
            vec![Endpoint {
                addresses: addrs,
                ..Endpoint::default()
            }]
        }),
        ports: Some(endpoint_ports.clone()),
    };
    let v4: Vec<String> = addresses
        .iter()
        .filter(|a| a.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let v6: Vec<String> = addresses
        .iter()
        .filter(|a| a.is_ipv6())
        .map(ToString::to_string)
        .collect();
    let mut slices = vec![slice("IPv4", "ipv4", v4)];
    if !v6.is_empty() {
        slices.push(slice("IPv6", "ipv6", v6));
    }
    TrafficObjects { service, slices }
}

/// The site a slice sends clients to, by its label (None: no endpoints).
pub fn slice_site(meta: &ObjectMeta) -> Option<String> {
    meta.labels.as_ref()?.get(LABEL_ACTIVE_SITE).cloned()
}

/// The slice with no endpoints and naming no site: what it is written as
/// while a switch drains.
pub fn drained(slice: &EndpointSlice) -> EndpointSlice {
    let mut s = slice.clone();
    s.endpoints = Some(vec![]);
    if let Some(l) = s.metadata.labels.as_mut() {
        l.remove(LABEL_ACTIVE_SITE);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SiteHAPairSpec {
        serde_json::from_value(serde_json::json!({
            "activeSite": "east",
            "sites": [
                {"name": "east", "adminUrl": "https://e", "credentialsSecretRef": {"name": "e"},
                 "trafficAddresses": ["192.0.2.10", "2001:db8::10"]},
                {"name": "west", "adminUrl": "https://w", "credentialsSecretRef": {"name": "w"},
                 "trafficHostname": "west.example.com"}
            ],
            "traffic": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]}
        }))
        .expect("spec")
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "sitehapair.io/v1alpha1".into(),
            kind: "SiteHAPair".into(),
            name: "gis".into(),
            uid: "u".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }
    }

    #[test]
    fn addresses_become_endpoint_slices_per_family() {
        let s = spec();
        let t = build("gis", "ns", &s, Some(&s.sites[0]), owner());
        assert_eq!(t.service.metadata.name.as_deref(), Some("gis"));
        assert!(
            t.service
                .spec
                .as_ref()
                .and_then(|x| x.selector.as_ref())
                .is_none()
        );
        assert_eq!(t.slices.len(), 2);
        let eps = |i: usize| t.slices[i].endpoints.clone().unwrap_or_default();
        assert_eq!(eps(0)[0].addresses, ["192.0.2.10"]);
        assert_eq!(eps(1)[0].addresses, ["2001:db8::10"]);
        let labels = t.slices[0].metadata.labels.as_ref().expect("labels");
        assert_eq!(
            labels["endpointslice.kubernetes.io/managed-by"],
            "sitehapair.io"
        );
        assert_eq!(labels["kubernetes.io/service-name"], "gis");
        assert_eq!(labels[LABEL_ACTIVE_SITE], "east");
        assert_eq!(
            t.slices[0].ports.as_ref().expect("ports")[0].port,
            Some(6443)
        );
    }

    #[test]
    fn hostname_becomes_external_name() {
        let s = spec();
        let t = build("gis", "ns", &s, Some(&s.sites[1]), owner());
        let svc = t.service.spec.expect("spec");
        assert_eq!(svc.type_.as_deref(), Some("ExternalName"));
        assert_eq!(svc.external_name.as_deref(), Some("west.example.com"));
        assert!(t.slices.is_empty());
    }

    #[test]
    fn a_slice_names_its_site_only_when_it_holds_endpoints() {
        let mut s = spec();
        s.sites[0].traffic_addresses = Some(vec!["2001:db8::10".into()]);
        let t = build("gis", "ns", &s, Some(&s.sites[0]), owner());
        assert_eq!(slice_site(&t.slices[0].metadata), None, "empty IPv4 slice");
        assert_eq!(slice_site(&t.slices[1].metadata).as_deref(), Some("east"));
        let d = drained(&t.slices[1]);
        assert_eq!(slice_site(&d.metadata), None);
        assert_eq!(d.endpoints.as_deref(), Some(&[][..]));
        assert_eq!(d.metadata.name, t.slices[1].metadata.name);
    }

    #[test]
    fn no_active_site_means_no_endpoints() {
        let s = spec();
        let t = build("gis", "ns", &s, None, owner());
        assert_eq!(t.slices.len(), 1);
        assert_eq!(t.slices[0].endpoints.as_deref(), Some(&[][..]));
    }
}
