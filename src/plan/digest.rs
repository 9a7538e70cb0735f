//! Plans by hashes, pure: each service's definition stands for a SHA-256
//! digest of its canonical JSON (serde_json's objects keep their keys
//! sorted, so key order never counts), computed once per revision (the
//! source cache shares it between pairs) and compared in place of the
//! definitions. Equal digests mean equal definitions (the same bytes parse
//! to the same value); differing digests are confirmed by comparing the
//! definitions themselves, so a plan from digests is always the plan from
//! full comparison (`diff`), only cheaper when little changed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::diff::{ServiceSet, SiteDiff, diff};

/// The SHA-256 of one definition's canonical JSON.
pub type Digest = [u8; 32];

/// Service name to the digest of its definition.
pub type Digests = BTreeMap<String, Digest>;

/// Feeds what serde_json writes straight into the hash (no copy).
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digests of a revision's sets (`SourceSet::digests_for`), computed
/// on first use and then shared by every pair that compares with it. A
/// copy starts empty (it may be changed before it is compared), and every
/// cache is equal to every other (it is no part of the value).
#[derive(Default)]
pub struct DigestCache(std::sync::OnceLock<(Digests, BTreeMap<String, Digests>)>);

impl DigestCache {
    /// The digests of `base` and of each site's merged set, computed once.
    pub fn get_or_compute(
        &self,
        base: &ServiceSet,
        merged: &BTreeMap<String, ServiceSet>,
    ) -> &(Digests, BTreeMap<String, Digests>) {
        self.0.get_or_init(|| {
            let sites = merged.iter().map(|(s, set)| (s.clone(), digests(set)));
            (digests(base), sites.collect())
        })
    }
}

impl Clone for DigestCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for DigestCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DigestCache {}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestCache")
    }
}

/// The digest of `definition`'s canonical JSON.
pub fn digest(definition: &Value) -> Digest {
    let mut w = HashWriter(Sha256::new());
    // Writing a Value into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut w, definition);
    w.0.finalize().into()
}

/// The digest of every service of `set`.
pub fn digests(set: &ServiceSet) -> Digests {
    set.iter().map(|(n, v)| (n.clone(), digest(v))).collect()
}

/// `diff(desired, live)`, comparing digests first: a service whose digests
/// agree is equal; one whose digests differ is compared in full (so the
/// answer never depends on how a value was written). `desired_digests`
/// and `live_digests` must be the digests of `desired` and `live`; when
/// their names are not exactly the sets' names, the sets are compared in
/// full. One merge pass over the four sorted maps, no lookups.
pub fn diff_by_digest(
    desired: &ServiceSet,
    desired_digests: &Digests,
    live: &ServiceSet,
    live_digests: &Digests,
) -> SiteDiff {
    let same_names = |set: &ServiceSet, d: &Digests| {
        set.len() == d.len() && set.keys().zip(d.keys()).all(|(a, b)| a == b)
    };
    if !same_names(desired, desired_digests) || !same_names(live, live_digests) {
        return diff(desired, live);
    }
    let mut out = SiteDiff::default();
    let mut want = desired.iter().zip(desired_digests.values()).peekable();
    let mut have = live.iter().zip(live_digests.values()).peekable();
    loop {
        let order = match (want.peek(), have.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(((w, _), _)), Some(((h, _), _))) => w.cmp(h),
        };
        match order {
            Ordering::Less => want
                .next()
                .into_iter()
                .for_each(|((n, _), _)| out.create.push(n.clone())),
            Ordering::Greater => have
                .next()
                .into_iter()
                .for_each(|((n, _), _)| out.delete.push(n.clone())),
            Ordering::Equal => {
                if let (Some(((n, a), da)), Some(((_, b), db))) = (want.next(), have.next())
                    && da != db
                    && a != b
                {
                    out.replace.push(n.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_change_a_digest() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"p":true,"q":[1,2]}}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{ "y": {"q": [1, 2], "p": true}, "x": 1 }"#).expect("json");
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(
            digest(&a),
            digest(&json!({"x": 2, "y": {"p": true, "q": [1, 2]}}))
        );
        // An array's order counts, as it does for the definitions.
        assert_ne!(digest(&json!([1, 2])), digest(&json!([2, 1])));
    }

    #[test]
    fn differing_digests_of_equal_values_still_plan_nothing() {
        // -0.0 and 0.0 are equal values written differently.
        let desired: ServiceSet = [("s".to_string(), json!({"x": -0.0}))].into();
        let live: ServiceSet = [("s".to_string(), json!({"x": 0.0}))].into();
        assert_ne!(digest(&desired["s"]), digest(&live["s"]));
        let d = diff_by_digest(&desired, &digests(&desired), &live, &digests(&live));
        assert_eq!(d, diff(&desired, &live));
        assert!(d.is_empty());
    }

    #[test]
    fn a_revision_digests_each_sites_set_once_and_a_copy_starts_without() {
        use crate::plan::overlay::SourceSet;
        let mut set = SourceSet::plain([("a".to_string(), json!({"x": 1}))].into());
        let east: ServiceSet = [("a".to_string(), json!({"x": 2}))].into();
        set.merged.insert("east".into(), east.clone());
        assert_eq!(set.digests_for("east"), &digests(&east));
        assert_eq!(set.digests_for("west"), &digests(&set.base));
        let copy = set.clone();
        assert!(copy.digests.0.get().is_none());
        assert_eq!(copy, set);
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(|n| json!(n)),
            prop_oneof![Just(0.0f64), Just(-0.0), Just(1.5)].prop_map(|f| json!(f)),
            "[ab]{0,2}".prop_map(Value::String),
        ]
    }

    fn definition() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[xyz]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn set() -> impl Strategy<Value = ServiceSet> {
        prop::collection::btree_map("s[0-5]", definition(), 0..6)
    }

    proptest! {
        /// The plan from digests is the plan from full comparison, for
        /// listings that share, change, add and drop services.
        #[test]
        fn the_plan_from_digests_is_the_plan_from_full_comparison(
            desired in set(),
            live in set(),
            keep in prop::collection::vec(any::<bool>(), 6),
        ) {
            // Let some services hold the desired definition exactly.
            let mut live = live;
            for ((name, def), k) in desired.iter().zip(&keep) {
                if *k {
                    live.insert(name.clone(), def.clone());
                }
            }
            let d = diff_by_digest(&desired, &digests(&desired), &live, &digests(&live));
            prop_assert_eq!(d, diff(&desired, &live));
        }

        /// A name the digests do not know is compared in full.
        #[test]
        fn missing_digests_fall_back_to_full_comparison(desired in set(), live in set()) {
            let d = diff_by_digest(&desired, &Digests::new(), &live, &digests(&live));
            prop_assert_eq!(d, diff(&desired, &live));
        }
    }
}
