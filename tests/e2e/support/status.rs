//! A pair's status as the tests read it: the status of `shp/<name>`, the
//! usual deadline for a wait on it (`WAIT`), polling it until a predicate
//! holds, and the newest record of its history.

use std::time::Duration;

use serde_json::Value;

use super::{Namespace, wait_for};

/// How long a test waits for a status (or anything else the operator does
/// within a few health intervals) before it fails.
pub const WAIT: Duration = Duration::from_secs(45);

/// The status of the pair `name` in `ns` (Null while it has none or the
/// pair does not exist).
pub fn pair_status(ns: &Namespace, name: &str) -> Value {
    ns.get_json(&format!("shp/{name}"))
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

/// Wait up to `WAIT` until `ok` holds of the status of the pair `name`;
/// returns that status.
pub fn wait_status(ns: &Namespace, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, WAIT, || Some(pair_status(ns, name)).filter(|s| ok(s)))
}

/// The newest record of status.history (Null when there is none).
pub fn last_record(st: &Value) -> Value {
    st["history"]
        .as_array()
        .and_then(|h| h.last().cloned())
        .unwrap_or(Value::Null)
}
