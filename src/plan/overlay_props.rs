//! Property tests of the overlay merge (RFC 7386): an empty patch changes
//! nothing, a patch applied twice is a patch applied once, what a patch sets
//! is what the result holds, and a site without overlays gets the base.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::diff::ServiceSet;
use super::overlay::{Overlay, apply_overlays, merge_patch};

/// JSON values a few levels deep, with nulls (which a patch uses to remove).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..5).prop_map(|n| json!(n)),
        "[a-c]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// Does `result` hold what `patch` sets (no key the patch removes, every
/// non-null non-object value as given, objects recursively)?
fn holds(result: &Value, patch: &Value) -> bool {
    match patch {
        Value::Object(p) => p.iter().all(|(k, v)| match (v, result.get(k)) {
            (Value::Null, got) => got.is_none(),
            (Value::Object(_), Some(got)) => holds(got, v),
            (_, got) => got == Some(v),
        }),
        other => result == other,
    }
}

proptest! {
    #[test]
    fn an_empty_patch_changes_nothing(target in object()) {
        let mut t = target.clone();
        merge_patch(&mut t, &json!({}));
        prop_assert_eq!(t, target);
    }

    #[test]
    fn a_patch_applied_twice_is_applied_once(target in value(), patch in value()) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn the_result_holds_what_the_patch_sets(target in value(), patch in object()) {
        let mut t = target;
        merge_patch(&mut t, &patch);
        prop_assert!(holds(&t, &patch), "{} does not hold {}", t, patch);
    }

    #[test]
    fn sites_without_overlays_get_the_base_and_others_differ_only_where_patched(
        defs in prop::collection::btree_map("[a-e]", object(), 1..6),
        patch in object(),
    ) {
        let base: ServiceSet = defs.into_iter().collect();
        let service = base.keys().next().cloned().unwrap_or_default();
        let set = apply_overlays(base.clone(), vec![Overlay {
            site: "east".into(),
            service: service.clone(),
            file: ".sites/east/x.yaml".into(),
            name_line: 1,
            patch: patch.clone(),
        }]);
        let set = set.expect("an overlay of a base service always fits");
        let mut patch = patch;
        let name_patch = patch.as_object_mut().and_then(|p| p.remove("name"));
        prop_assert_eq!(set.for_site("west"), &base);
        for (name, def) in set.for_site("east") {
            if *name == service {
                prop_assert!(holds(def, &patch));
                // The name field is never patched.
                prop_assert_eq!(def.get("name"), base[name].get("name"), "{:?}", name_patch);
            } else {
                prop_assert_eq!(Some(def), base.get(name));
            }
        }
    }
}
