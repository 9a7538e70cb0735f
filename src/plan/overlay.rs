//! Per-site overlays, pure: a revision's services are a base set plus, per
//! site, overlay patches (`.sites/<site>/<file>` under the services folder,
//! read by `source::files`). A site's desired set is the base with that
//! site's patches merged by the JSON merge patch rule (RFC 7386). Merged
//! once per revision, so every trip compares against a ready set.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diff::ServiceSet;

/// One overlay file, parsed: the site it is for (its folder), the service
/// it patches (its `name` field, else its file stem), the file relative to
/// the repository root, the line its name is on, and the patch itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub site: String,
    pub service: String,
    pub file: String,
    pub name_line: usize,
    pub patch: Value,
}

/// The services of one revision: the base set and, for every site with
/// overlays, the base with them merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSet {
    pub base: ServiceSet,
    /// Site name to its merged set (only sites with overlays).
    pub merged: BTreeMap<String, ServiceSet>,
    /// Site name to the overlay files for it (relative to the repository).
    pub overlay_files: BTreeMap<String, Vec<String>>,
    /// The digests of `base` and the merged sets, computed when first
    /// compared (a set is not changed once it is compared; a copy starts
    /// without them).
    pub digests: super::digest::DigestCache,
}

/// Why overlays do not fit the base.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverlayError {
    #[error(
        "{file}:{line}: overlay for site {site} patches service {service:?}, which no service file defines"
    )]
    NoBase {
        file: String,
        line: usize,
        site: String,
        service: String,
    },
    #[error("{file}:1: overlay for service {service:?} of site {site} is also in {other}")]
    Duplicate {
        file: String,
        other: String,
        site: String,
        service: String,
    },
}

impl SourceSet {
    /// A revision without overlays.
    pub fn plain(base: ServiceSet) -> Self {
        Self {
            base,
            ..Self::default()
        }
    }

    /// The services `site` should hold.
    pub fn for_site(&self, site: &str) -> &ServiceSet {
        self.merged.get(site).unwrap_or(&self.base)
    }

    /// The digests of [`Self::for_site`]'s set (`plan::digest`), computed
    /// once for all the sites.
    pub fn digests_for(&self, site: &str) -> &super::digest::Digests {
        let (base, merged) = self.digests.get_or_compute(&self.base, &self.merged);
        merged.get(site).unwrap_or(base)
    }

    /// The first overlay folder naming a site not in `sites`: the site and
    /// one of its files.
    pub fn unknown_site<'a>(&'a self, sites: &[&str]) -> Option<(&'a str, &'a str)> {
        self.overlay_files
            .iter()
            .find(|(site, _)| !sites.contains(&site.as_str()))
            .and_then(|(site, files)| Some((site.as_str(), files.first()?.as_str())))
    }
}

/// Merge `patch` into `target` by RFC 7386: an object patch is applied key
/// by key (null removes the key, an object recurses, anything else
/// replaces); any other patch replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (key, value) in p {
            if value.is_null() {
                t.remove(key);
            } else {
                merge_patch(t.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The base with the overlays merged per site. Overlays are applied in the
/// order given (the reader sorts them by file); a service gets at most one
/// overlay per site and must exist in the base. An overlay's `name` field
/// names the service it patches and is not merged: the name never changes.
pub fn apply_overlays(base: ServiceSet, overlays: Vec<Overlay>) -> Result<SourceSet, OverlayError> {
    let mut out = SourceSet::plain(base);
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for o in overlays {
        let Some(original) = out.base.get(&o.service) else {
            return Err(OverlayError::NoBase {
                file: o.file,
                line: o.name_line,
                site: o.site,
                service: o.service,
            });
        };
        let key = (o.site.clone(), o.service.clone());
        if let Some(other) = seen.get(&key) {
            return Err(OverlayError::Duplicate {
                file: o.file,
                other: other.clone(),
                site: o.site,
                service: o.service,
            });
        }
        // The `name` field says which service is patched; it is not
        // merged, so an overlay never renames a service.
        let mut patch = o.patch;
        if let Value::Object(p) = &mut patch {
            p.remove("name");
        }
        let mut merged = original.clone();
        merge_patch(&mut merged, &patch);
        seen.insert(key, o.file.clone());
        let base = &out.base;
        out.merged
            .entry(o.site.clone())
            .or_insert_with(|| base.clone())
            .insert(o.service, merged);
        out.overlay_files.entry(o.site).or_default().push(o.file);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overlay(site: &str, service: &str, file: &str, patch: Value) -> Overlay {
        Overlay {
            site: site.into(),
            service: service.into(),
            file: file.into(),
            name_line: 1,
            patch,
        }
    }

    #[test]
    fn rfc7386_examples_hold() {
        // The examples of RFC 7386, appendix A.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, want, "{target} patched with {patch}");
        }
    }

    #[test]
    fn each_site_gets_the_base_with_its_own_overlays() {
        let base: ServiceSet = [
            ("db".to_string(), json!({"host": "db.internal", "pool": 5})),
            ("maps".to_string(), json!({"layers": 3})),
        ]
        .into();
        let set = apply_overlays(
            base.clone(),
            vec![overlay(
                "east",
                "db",
                ".sites/east/db.yaml",
                json!({"host": "db-east"}),
            )],
        )
        .expect("fits");
        assert_eq!(
            set.for_site("east")["db"],
            json!({"host": "db-east", "pool": 5})
        );
        assert_eq!(set.for_site("east")["maps"], base["maps"]);
        assert_eq!(set.for_site("west"), &base);
        assert_eq!(set.unknown_site(&["east", "west"]), None);
        assert_eq!(
            set.unknown_site(&["west", "north"]),
            Some(("east", ".sites/east/db.yaml"))
        );
    }

    #[test]
    fn an_overlay_without_base_and_a_second_one_are_refused_and_names_stay() {
        let base: ServiceSet = [("db".to_string(), json!({"name": "db", "pool": 5}))].into();
        let e = apply_overlays(base.clone(), vec![overlay("east", "dbx", "f", json!({}))]);
        assert!(matches!(e, Err(OverlayError::NoBase { service, .. }) if service == "dbx"));
        let e = apply_overlays(
            base.clone(),
            vec![
                overlay("east", "db", "a.yaml", json!({"pool": 1})),
                overlay("east", "db", "b.json", json!({"pool": 2})),
            ],
        );
        assert!(matches!(e, Err(OverlayError::Duplicate { other, .. }) if other == "a.yaml"));
        // `name` identifies the service; it is never merged.
        let plain: ServiceSet = [("db".to_string(), json!({"pool": 5}))].into();
        for (base, want) in [
            (&base, json!({"name": "db", "pool": 6})),
            (&plain, json!({"pool": 6})),
        ] {
            let set = apply_overlays(
                base.clone(),
                vec![overlay("east", "db", "f", json!({"name": "db", "pool": 6}))],
            )
            .expect("fits");
            assert_eq!(set.for_site("east")["db"], want);
        }
        // The same service for two sites is two overlays, not a duplicate.
        let ok = apply_overlays(
            base,
            vec![
                overlay("east", "db", "e", json!({"pool": 1})),
                overlay("west", "db", "w", json!({"pool": 2})),
            ],
        )
        .expect("one per site");
        assert_eq!(ok.for_site("west")["db"]["pool"], json!(2));
    }
}
