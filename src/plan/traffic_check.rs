//! What the operator tells an external load balancer about one site of a
//! pair (`GET /traffic/<namespace>/<pair>/<site>`), pure: where the pair's
//! traffic goes (status.trafficSite) is the one site that may take it.
//! From the pair as this replica's watch last saw it and whether that view
//! is still fresh enough to vouch for.

use crate::api::SiteHAPair;

/// The answer for one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficAnswer {
    /// 200: the pair's traffic goes to this site.
    Here,
    /// 503: it goes elsewhere, or nowhere yet.
    Elsewhere,
    /// 503: this replica's view of the pair is too old to vouch for.
    Stale,
    /// 404: no such pair in scope, or no such site in it.
    Unknown,
}

impl TrafficAnswer {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            TrafficAnswer::Here => 200,
            TrafficAnswer::Elsewhere | TrafficAnswer::Stale => 503,
            TrafficAnswer::Unknown => 404,
        }
    }

    /// The body: the site's name and what is known of it, nothing more
    /// (an unknown pair or site names nothing at all).
    pub fn body(&self, site: &str) -> String {
        match self {
            TrafficAnswer::Here => format!("{site}: takes traffic\n"),
            TrafficAnswer::Elsewhere => format!("{site}: takes no traffic\n"),
            TrafficAnswer::Stale => {
                format!("{site}: not known (this replica's view of the pair is stale)\n")
            }
            TrafficAnswer::Unknown => "not found\n".to_string(),
        }
    }
}

/// The answer for `site` of `pair` (None: not in this replica's view);
/// `fresh`: the view is recent enough to vouch for.
pub fn answer(pair: Option<&SiteHAPair>, site: &str, fresh: bool) -> TrafficAnswer {
    let Some(pair) = pair else {
        return TrafficAnswer::Unknown;
    };
    if !pair.spec.sites.iter().any(|s| s.name == site) {
        return TrafficAnswer::Unknown;
    }
    if !fresh {
        return TrafficAnswer::Stale;
    }
    let goes_to = pair.status.as_ref().and_then(|s| s.traffic_site.as_deref());
    if goes_to == Some(site) {
        TrafficAnswer::Here
    } else {
        TrafficAnswer::Elsewhere
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SiteHAPairStatus;

    fn pair(traffic: Option<&str>) -> SiteHAPair {
        let mut p: SiteHAPair = serde_json::from_value(serde_json::json!({
            "apiVersion": "sitehapair.io/v1alpha1",
            "kind": "SiteHAPair",
            "metadata": {"name": "gis", "namespace": "prod"},
            "spec": {
                "activeSite": "east",
                "sites": [
                    {"name": "east", "adminUrl": "https://east.example",
                     "credentialsSecretRef": {"name": "east"}, "trafficAddresses": ["192.0.2.1"]},
                    {"name": "west", "adminUrl": "https://west.example",
                     "credentialsSecretRef": {"name": "west"}, "trafficAddresses": ["192.0.2.2"]}
                ]
            }
        }))
        .expect("pair");
        p.status = Some(SiteHAPairStatus {
            traffic_site: traffic.map(String::from),
            ..SiteHAPairStatus::default()
        });
        p
    }

    #[test]
    fn only_the_traffic_site_answers_200() {
        let p = pair(Some("east"));
        assert_eq!(answer(Some(&p), "east", true), TrafficAnswer::Here);
        assert_eq!(answer(Some(&p), "west", true), TrafficAnswer::Elsewhere);
        let none = pair(None);
        assert_eq!(answer(Some(&none), "east", true), TrafficAnswer::Elsewhere);
    }

    #[test]
    fn a_stale_view_vouches_for_no_site_and_unknowns_name_nothing() {
        let p = pair(Some("east"));
        assert_eq!(answer(Some(&p), "east", false), TrafficAnswer::Stale);
        assert_eq!(answer(Some(&p), "north", true), TrafficAnswer::Unknown);
        assert_eq!(answer(None, "east", true), TrafficAnswer::Unknown);
        assert_eq!(TrafficAnswer::Unknown.body("east"), "not found\n");
        assert!(!TrafficAnswer::Stale.body("east").contains("west"));
        assert_eq!(TrafficAnswer::Here.status(), 200);
        assert_eq!(TrafficAnswer::Stale.status(), 503);
    }
}
