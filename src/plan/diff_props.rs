//! Property tests of the diff: applying it to the live set gives the desired
//! set, and a set compared with itself needs nothing.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::diff::{ServiceSet, diff};

fn service_set() -> impl Strategy<Value = ServiceSet> {
    prop::collection::btree_map("[a-e]{1,2}", (0u8..4).prop_map(|v| json!({"v": v})), 0..12)
}

proptest! {
    #[test]
    fn applying_the_diff_reaches_the_desired_set(desired in service_set(), live in service_set()) {
        let d = diff(&desired, &live);
        let mut after: ServiceSet = live.clone();
        for name in &d.delete { after.remove(name); }
        for name in d.create.iter().chain(&d.replace) {
            let v: Value = desired[name].clone();
            after.insert(name.clone(), v);
        }
        prop_assert_eq!(after, desired);
    }

    #[test]
    fn a_set_equals_itself(s in service_set()) {
        prop_assert!(diff(&s, &s).is_empty());
    }
}
