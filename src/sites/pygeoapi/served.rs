//! Written is not served: what the public API (`GET /collections`) should
//! show of each resource, computed from its configuration, and what it
//! does show. pygeoapi's admin API writes the configuration file and
//! answers at once; the running server serves the new configuration only
//! once it has reloaded (gunicorn `--reload --reload-extra-file`), and a
//! server that does not reload never does. The driver compares the two
//! after every write and at every listing. Pure, so it is unit-tested.
//!
//! What is compared, per collection (`type: collection`, not
//! `visibility: hidden`): that it is listed, and its title, description
//! and keywords when the configuration gives them as plain text (a
//! translated title is served in one language, so it is not compared), its
//! spatial extent and its temporal extent (as the instant pygeoapi stores,
//! `canonical::datetime`). A change to a part the listing does not show (a
//! provider's options) is served as far as the public listing can tell.

use std::collections::BTreeMap;

use serde_json::Value;

/// What `/collections` shows of one collection, as far as it is compared.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    pub title: Option<String>,
    pub description: Option<String>,
    pub keywords: Option<Vec<String>>,
    /// The first bounding box, as numbers.
    pub bbox: Option<Vec<f64>>,
    /// The temporal extent's begin and end (None for an open end).
    pub interval: Option<[Option<String>; 2]>,
}

/// A resource the public API does not serve as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// Configured, not listed.
    Missing { id: String },
    /// Listed, with this field as it was before.
    Stale { id: String, field: &'static str },
    /// Listed although it is no longer configured.
    StillServed { id: String },
}

impl Unserved {
    pub fn id(&self) -> &str {
        match self {
            Unserved::Missing { id }
            | Unserved::Stale { id, .. }
            | Unserved::StillServed { id } => id,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Unserved::Missing { id } => {
                format!("resource {id} is configured but /collections does not list it")
            }
            Unserved::Stale { id, field } => {
                format!("resource {id} is configured but /collections shows its old {field}")
            }
            Unserved::StillServed { id } => {
                format!("resource {id} was removed but /collections still lists it")
            }
        }
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(|s| s.replace("&lt;", "<").replace("&gt;", ">"))
}

fn words(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|w| text(Some(w)))
        .collect::<Option<Vec<String>>>()
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

/// One end of a temporal extent, as the instant pygeoapi stores.
fn instant(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(super::canonical::datetime)
}

/// Configured text as it will be served: None (not compared) when it
/// holds a `${VARIABLE}` reference, which the server expands from its
/// environment.
fn configured_text(v: Option<&Value>) -> Option<String> {
    text(v).filter(|s| !s.contains("${"))
}

/// What `/collections` should show of a configured resource; None when it
/// is not listed there at all (not a collection, or hidden).
pub fn expected(resource: &Value) -> Option<View> {
    let kind = resource.get("type").and_then(Value::as_str);
    let hidden = resource.get("visibility").and_then(Value::as_str) == Some("hidden");
    if kind != Some("collection") || hidden {
        return None;
    }
    let bbox = resource
        .get("extents")
        .and_then(|e| e.get("spatial"))
        .and_then(|s| s.get("bbox"))
        .and_then(|b| match b.as_array()?.first()? {
            Value::Array(_) => numbers(b.as_array()?.first()?),
            _ => numbers(b),
        });
    let interval = resource
        .get("extents")
        .and_then(|e| e.get("temporal"))
        .filter(|t| t.is_object())
        .map(|t| [instant(t.get("begin")), instant(t.get("end"))]);
    let keywords = words(resource.get("keywords")).filter(|k| k.iter().all(|w| !w.contains("${")));
    Some(View {
        title: configured_text(resource.get("title")),
        description: configured_text(resource.get("description")),
        keywords,
        bbox,
        interval,
    })
}

/// What `/collections?f=json` lists: id to view.
pub fn listed(collections: &Value) -> BTreeMap<String, View> {
    collections
        .get("collections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = c.get("id")?.as_str()?.to_string();
            let bbox = c
                .get("extent")
                .and_then(|e| e.get("spatial"))
                .and_then(|s| s.get("bbox"))
                .and_then(|b| b.as_array()?.first().and_then(numbers));
            let interval = c
                .get("extent")
                .and_then(|e| e.get("temporal"))
                .and_then(|t| t.get("interval"))
                .and_then(|i| i.as_array()?.first()?.as_array().cloned())
                .map(|i| [instant(i.first()), instant(i.get(1))]);
            Some((
                id,
                View {
                    title: text(c.get("title")),
                    description: text(c.get("description")),
                    keywords: words(c.get("keywords")),
                    bbox,
                    interval,
                },
            ))
        })
        .collect()
}

/// Does `served` show what `want` asks? Only what the configuration gives
/// plainly is asked.
pub fn shows(want: &View, served: &View) -> Result<(), &'static str> {
    let same = |w: &Option<String>, s: &Option<String>| w.is_none() || w == s;
    if !same(&want.title, &served.title) {
        return Err("title");
    }
    if !same(&want.description, &served.description) {
        return Err("description");
    }
    if want.keywords.is_some() && want.keywords != served.keywords {
        return Err("keywords");
    }
    if want.bbox.is_some() && want.bbox != served.bbox {
        return Err("spatial extent");
    }
    if want.interval.is_some() && want.interval != served.interval {
        return Err("temporal extent");
    }
    Ok(())
}

/// One resource's state on the public API: `want` is what its
/// configuration asks (None: it should not be listed).
pub fn check_one(
    id: &str,
    want: Option<&View>,
    served: &BTreeMap<String, View>,
) -> Result<(), Unserved> {
    match (want, served.get(id)) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(Unserved::StillServed { id: id.to_string() }),
        (Some(_), None) => Err(Unserved::Missing { id: id.to_string() }),
        (Some(w), Some(s)) => shows(w, s).map_err(|field| Unserved::Stale {
            id: id.to_string(),
            field,
        }),
    }
}

/// Every configured resource against the listing, and every listed
/// collection against the configuration.
pub fn check_all(
    configured: &BTreeMap<String, Value>,
    served: &BTreeMap<String, View>,
) -> Vec<Unserved> {
    let mut out: Vec<Unserved> = configured
        .iter()
        .filter_map(|(id, r)| check_one(id, expected(r).as_ref(), served).err())
        .collect();
    out.extend(
        served
            .keys()
            .filter(|id| !configured.contains_key(*id))
            .map(|id| Unserved::StillServed { id: id.clone() }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lakes(title: &str) -> Value {
        json!({
            "type": "collection", "title": title, "description": "lakes", "keywords": ["water"],
            "extents": {"spatial": {"bbox": [-180, -90, 180, 90]}},
            "providers": [{"type": "feature", "name": "GeoJSON", "data": "l.geojson", "id_field": "id"}]
        })
    }

    fn listing(title: &str) -> Value {
        json!({"collections": [{
            "id": "lakes", "title": title, "description": "lakes", "keywords": ["water"],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]], "crs": "x"}},
            "links": []
        }]})
    }

    #[test]
    fn a_collection_is_served_when_listed_as_configured() {
        let configured = BTreeMap::from([("lakes".to_string(), lakes("Lakes"))]);
        assert_eq!(check_all(&configured, &listed(&listing("Lakes"))), vec![]);
    }

    #[test]
    fn a_change_not_yet_served_shows_the_old_field() {
        let configured = BTreeMap::from([("lakes".to_string(), lakes("Lakes and ponds"))]);
        assert_eq!(
            check_all(&configured, &listed(&listing("Lakes"))),
            vec![Unserved::Stale {
                id: "lakes".into(),
                field: "title"
            }]
        );
    }

    #[test]
    fn a_created_resource_must_appear_and_a_deleted_one_disappear() {
        let configured = BTreeMap::from([("rivers".to_string(), lakes("Rivers"))]);
        let got = check_all(&configured, &listed(&listing("Lakes")));
        assert_eq!(
            got,
            vec![
                Unserved::Missing {
                    id: "rivers".into()
                },
                Unserved::StillServed { id: "lakes".into() }
            ]
        );
        assert!(
            got[1].message().contains("still lists"),
            "{}",
            got[1].message()
        );
    }

    #[test]
    fn hidden_resources_processes_and_translated_titles_are_not_asked_of_the_listing() {
        let mut hidden = lakes("Lakes");
        hidden["visibility"] = json!("hidden");
        assert_eq!(expected(&hidden), None);
        assert_eq!(
            expected(&json!({"type": "process", "processor": {"name": "HelloWorld"}})),
            None
        );
        let mut translated = lakes("x");
        translated["title"] = json!({"en": "Lakes", "fr": "Lacs"});
        let want = expected(&translated).expect("a collection");
        assert_eq!(want.title, None);
        let served = listed(&listing("Lakes"));
        assert_eq!(check_one("lakes", Some(&want), &served), Ok(()));
    }

    #[test]
    fn a_temporal_extent_is_served_as_the_instant_pygeoapi_stores() {
        let mut gauges = lakes("Gauges");
        gauges["extents"]["temporal"] = json!({"begin": "2024-01-01", "end": null});
        let mut listing = listing("Gauges");
        listing["collections"][0]["extent"]["temporal"] =
            json!({"interval": [["2024-01-01T00:00:00+00:00", null]]});
        let served = listed(&listing);
        let want = expected(&gauges).expect("a collection");
        assert_eq!(check_one("lakes", Some(&want), &served), Ok(()));
        gauges["extents"]["temporal"]["begin"] = json!("2024-06-01");
        let want = expected(&gauges).expect("a collection");
        assert_eq!(
            check_one("lakes", Some(&want), &served),
            Err(Unserved::Stale {
                id: "lakes".into(),
                field: "temporal extent"
            })
        );
    }

    #[test]
    fn text_the_server_expands_from_its_environment_is_not_asked() {
        let want = expected(&lakes("Lakes of ${REGION}")).expect("a collection");
        assert_eq!(want.title, None);
        assert_eq!(
            check_one("lakes", Some(&want), &listed(&listing("Lakes of Dalsland"))),
            Ok(())
        );
    }

    #[test]
    fn an_escaped_title_is_the_title() {
        let served = listed(&listing("Lakes &lt;big&gt;"));
        let want = expected(&lakes("Lakes <big>")).expect("a collection");
        assert_eq!(check_one("lakes", Some(&want), &served), Ok(()));
    }
}
