//! How a pygeoapi resource is named: its id in the configuration's
//! `resources` map, which is also its path on the public API
//! (`/collections/<id>`, `/processes/<id>`) and its file name in git
//! (`<id>.yaml` or `<id>.json`). Ids are kept to what a URL path segment
//! holds without escaping, so that the admin API, the public API and git
//! all spell a resource the same way. `check_resource` adds the shape
//! `sitehapair validate --kind Pygeoapi` asks of a resource file (what
//! pygeoapi's own schema checks in full when it is written).

use serde_json::Value;

/// Longest resource id accepted.
pub const MAX_ID: usize = 128;

/// Why a name is not a pygeoapi resource id the operator manages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{0:?} is not a pygeoapi resource id: use 1 to {MAX_ID} letters, digits, '_', '-' or '.', starting with a letter or digit, such as lakes or obs-2024"
    )]
    Shape(String),
    #[error("resource {id}: {what}")]
    Resource { id: String, what: &'static str },
}

/// Resource types pygeoapi's configuration knows.
pub const TYPES: &[&str] = &["collection", "process", "stac-collection"];

/// Check a resource file: its id, and that it is a resource object of a
/// known `type`; a collection names its `providers` and its spatial extent.
pub fn check_resource(id: &str, resource: &Value) -> Result<(), NameError> {
    check_id(id)?;
    let bad = |what| NameError::Resource {
        id: id.to_string(),
        what,
    };
    let kind = resource
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("needs a type: collection, process or stac-collection"))?;
    if !TYPES.contains(&kind) {
        return Err(bad("type must be collection, process or stac-collection"));
    }
    if kind == "collection" {
        let providers = resource.get("providers").and_then(Value::as_array);
        if providers.is_none_or(|p| p.is_empty()) {
            return Err(bad("a collection needs at least one provider (providers)"));
        }
        if resource
            .get("extents")
            .and_then(|e| e.get("spatial"))
            .is_none()
        {
            return Err(bad("a collection needs a spatial extent (extents.spatial)"));
        }
    }
    Ok(())
}

/// Check a resource id (the file's name in git, the key in `resources`).
pub fn check_id(id: &str) -> Result<(), NameError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if first_ok && rest_ok && id.len() <= MAX_ID && !id.contains("..") {
        Ok(())
    } else {
        Err(NameError::Shape(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_plain_path_segments_are_accepted() {
        for ok in ["lakes", "obs-2024", "ne_110m.rivers", "A1"] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn a_resource_file_needs_a_known_type_and_a_collection_its_providers_and_extent() {
        let lakes = serde_json::json!({
            "type": "collection", "title": "Lakes",
            "extents": {"spatial": {"bbox": [-180, -90, 180, 90]}},
            "providers": [{"type": "feature", "name": "GeoJSON", "data": "l.geojson"}]
        });
        assert_eq!(check_resource("lakes", &lakes), Ok(()));
        let mut no_providers = lakes.clone();
        no_providers["providers"] = serde_json::json!([]);
        let e = check_resource("lakes", &no_providers).unwrap_err();
        assert!(e.to_string().contains("provider"), "{e}");
        let e = check_resource("lakes", &serde_json::json!({"type": "layer"})).unwrap_err();
        assert!(e.to_string().contains("type must be"), "{e}");
        assert!(check_resource("a b", &lakes).is_err());
    }

    #[test]
    fn ids_a_url_or_a_file_name_would_change_are_refused() {
        let long = "a".repeat(MAX_ID + 1);
        for bad in [
            "",
            "-lakes",
            ".hidden",
            "a b",
            "a/b",
            "a..b",
            "é",
            "lakes?",
            long.as_str(),
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        let e = check_id("a b").unwrap_err();
        assert!(e.to_string().contains("such as lakes"), "{e}");
    }
}
