//! The diff of service sets, pure: per site, which services to create,
//! replace and delete to make the live set equal the desired one. Equality is
//! canonical JSON equality (object key order does not matter). Also the
//! human rendering of a change, with secret values masked.

use std::collections::BTreeMap;

use serde_json::Value;
use similar::TextDiff;

/// Service name to definition (one JSON object each).
pub type ServiceSet = BTreeMap<String, Value>;

/// What one site needs to match the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteDiff {
    /// In the source, missing on the site.
    pub create: Vec<String>,
    /// On both, with different definitions.
    pub replace: Vec<String>,
    /// On the site, not in the source.
    pub delete: Vec<String>,
}

impl SiteDiff {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.replace.is_empty() && self.delete.is_empty()
    }

    /// Every service this diff touches, sorted.
    pub fn touched(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .create
            .iter()
            .chain(&self.replace)
            .chain(&self.delete)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all
    }
}

/// Compare the desired set with the live one. Names come out sorted.
/// BTreeMap iteration is ordered, so this is one merge pass: O(n).
pub fn diff(desired: &ServiceSet, live: &ServiceSet) -> SiteDiff {
    let mut out = SiteDiff::default();
    // A site known to hold exactly the revision is compared with the
    // revision itself: nothing to walk.
    if std::ptr::eq(desired, live) {
        return out;
    }
    for (name, want) in desired {
        match live.get(name) {
            None => out.create.push(name.clone()),
            // serde_json's Map is a BTreeMap without `preserve_order`, so
            // Value equality ignores key order: canonical comparison.
            Some(have) if have != want => out.replace.push(name.clone()),
            Some(_) => {}
        }
    }
    for name in live.keys() {
        if !desired.contains_key(name) {
            out.delete.push(name.clone());
        }
    }
    out
}

/// Placeholder written in place of secret values.
pub const MASK: &str = "*** (masked)";

pub use crate::api::redact::is_secret_key;

/// A copy of `v` with every value under a secret-looking key masked.
pub fn mask_secrets(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, val)| {
                    let masked = if is_secret_key(k) && !val.is_null() {
                        Value::String(MASK.to_string())
                    } else {
                        mask_secrets(val)
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_secrets).collect()),
        other => other.clone(),
    }
}

/// Canonical pretty JSON (sorted keys), masked, for people to read.
fn pretty_masked(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            let mut s = serde_json::to_string_pretty(&mask_secrets(v)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// A unified diff of one service between `live` and `desired`, secrets masked.
/// `a/` is the site, `b/` the source.
pub fn render_service_diff(
    site: &str,
    name: &str,
    live: Option<&Value>,
    desired: Option<&Value>,
) -> String {
    let old = pretty_masked(live);
    let new = pretty_masked(desired);
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{site}/{name}"), &format!("b/source/{name}"))
        .to_string()
}

/// The unified diff of every service a site diff touches.
pub fn render_site_diff(
    site: &str,
    d: &SiteDiff,
    live: &ServiceSet,
    desired: &ServiceSet,
) -> String {
    d.touched()
        .into_iter()
        .map(|name| render_service_diff(site, name, live.get(name), desired.get(name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(items: &[(&str, Value)]) -> ServiceSet {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn finds_creates_replaces_and_deletes() {
        let desired = set(&[
            ("a", json!({"x": 1})),
            ("b", json!({"x": 2})),
            ("c", json!({"x": 3})),
        ]);
        let live = set(&[
            ("b", json!({"x": 2})),
            ("c", json!({"x": 4})),
            ("d", json!({})),
        ]);
        let d = diff(&desired, &live);
        assert_eq!(d.create, ["a"]);
        assert_eq!(d.replace, ["c"]);
        assert_eq!(d.delete, ["d"]);
        assert_eq!(d.touched(), ["a", "c", "d"]);
    }

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"p":true,"q":[1,2]}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"y":{"q":[1,2],"p":true},"x":1}"#).expect("json");
        assert!(diff(&set(&[("s", a)]), &set(&[("s", b)])).is_empty());
    }

    #[test]
    fn secrets_are_masked_in_rendered_diffs() {
        let live = json!({"url": "u", "password": "hunter2", "nested": {"apiToken": "abc123"}});
        let want =
            json!({"url": "v", "password": "correct-horse", "nested": {"apiToken": "xyz789"}});
        let text = render_service_diff("east", "svc", Some(&live), Some(&want));
        for secret in ["hunter2", "correct-horse", "abc123", "xyz789"] {
            assert!(!text.contains(secret), "secret {secret} leaked:\n{text}");
        }
        assert!(text.contains("-  \"url\": \"u\""), "{text}");
        assert!(text.contains("+  \"url\": \"v\""), "{text}");
        assert!(
            text.contains("a/east/svc") && text.contains("b/source/svc"),
            "{text}"
        );
    }

    #[test]
    fn arrays_of_objects_are_masked_too() {
        let v = json!({"users": [{"name": "n", "secret": "s3"}]});
        assert_eq!(
            mask_secrets(&v),
            json!({"users": [{"name": "n", "secret": MASK}]})
        );
    }
}
