//! An ArcGIS service definition as git holds it, read from and written to
//! the server's admin JSON. Pure.
//!
//! Both sides are compared in one canonical form ([`canonical`]): the
//! definition less what the server assigns or changes by itself
//! ([`SERVER_ASSIGNED`], the server directories in `properties`), less the
//! top-level framework properties left at their documented defaults (the
//! server shows them whether or not anyone set them: [`is_default`]), with
//! `configuredState` only when it is `STOPPED` (started is how a created
//! service comes up). So git holds what a person set, a definition that
//! spells a default out equals one that leaves it out, and a site that
//! adds its own fields is not drift.
//!
//! Writing: the definition from git, with `serviceName` and `type` taken
//! from the name (a definition that names another service is refused), and
//! `configuredState` split off: the server is told the state with its
//! `start` and `stop` operations.

use serde_json::{Map, Value, json};

use super::names::ServiceId;

/// Top-level fields of a service's admin JSON that the server assigns or
/// updates itself: identifiers (`serverId`, `id`), the federated portal's
/// item references (`portalProperties`), built-in marking (`isDefault`),
/// the run-time state (`realTimeState`; `configuredState` comes from the
/// status resource), and the folder, which the name carries (`folderName`).
pub const SERVER_ASSIGNED: &[&str] = &[
    "serverId",
    "id",
    "portalProperties",
    "isDefault",
    "realTimeState",
    "configuredState",
    "folderName",
];

/// Keys of `properties` that are the server's own directories (the
/// createService example shows the server's values of them).
pub const SERVER_DIRECTORIES: &[&str] = &["outputDir", "virtualOutputDir", "virtualCacheDir"];

/// Is `value` the documented default of the top-level field `key`? (The
/// service framework properties of the Edit Service page, and the values
/// of the documented service JSON: an empty description, no extensions.)
pub fn is_default(key: &str, value: &Value) -> bool {
    let default = match key {
        "clusterName" => json!("default"),
        "minInstancesPerNode" | "instancesPerContainer" => json!(1),
        "maxInstancesPerNode" => json!(2),
        "maxWaitTime" => json!(60),
        "maxStartupTime" => json!(300),
        "maxIdleTime" | "keepAliveInterval" => json!(1800),
        "maxUsageTime" => json!(600),
        "recycleInterval" => json!(24),
        "recycleStartTime" => json!("00:00"),
        "loadBalancing" => json!("ROUND_ROBIN"),
        "isolationLevel" => json!("HIGH"),
        "private" => json!(false),
        "maxUploadFileSize" => json!(0),
        "allowedUploadFileTypes" | "description" | "capabilities" => json!(""),
        "provider" => json!("ArcObjects11"),
        "properties" | "frameworkProperties" => json!({}),
        "extensions" | "datasets" => json!([]),
        _ => return false,
    };
    *value == default
}

/// The canonical form of a definition (from git or from a site).
pub fn canonical(definition: &Value) -> Value {
    let Value::Object(map) = definition else {
        return definition.clone();
    };
    let stopped = map.get("configuredState").and_then(Value::as_str) == Some("STOPPED");
    let mut out = Map::new();
    for (k, v) in map {
        if SERVER_ASSIGNED.contains(&k.as_str()) {
            continue;
        }
        let v = match (k.as_str(), v) {
            ("properties", Value::Object(p)) => Value::Object(
                p.iter()
                    .filter(|(pk, _)| !SERVER_DIRECTORIES.contains(&pk.as_str()))
                    .map(|(pk, pv)| (pk.clone(), pv.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        };
        if !is_default(k, &v) {
            out.insert(k.clone(), v);
        }
    }
    if stopped {
        out.insert("configuredState".into(), Value::String("STOPPED".into()));
    }
    Value::Object(out)
}

/// The state a service should be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Started,
    Stopped,
}

impl State {
    pub fn of(text: &str) -> Option<Self> {
        match text {
            "STARTED" => Some(State::Started),
            "STOPPED" => Some(State::Stopped),
            _ => None,
        }
    }

    pub fn operation(self) -> &'static str {
        match self {
            State::Started => "start",
            State::Stopped => "stop",
        }
    }
}

/// The git form of a service read from a site: `admin` is its admin JSON,
/// `configured` the `configuredState` of its status resource.
pub fn definition_of(admin: Value, configured: Option<State>) -> Value {
    let mut admin = admin;
    if let Value::Object(m) = &mut admin {
        m.remove("configuredState");
        if configured == Some(State::Stopped) {
            m.insert("configuredState".into(), Value::String("STOPPED".into()));
        }
    }
    canonical(&admin)
}

/// Why a definition from git cannot be written to a site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("{name}: an ArcGIS service definition is a JSON object")]
    NotObject { name: String },
    #[error("{name}: its {field} is {found:?}, but the name says {expected:?}")]
    Mismatch {
        name: String,
        field: &'static str,
        found: String,
        expected: String,
    },
    #[error("{name}: configuredState {found:?} must be STARTED or STOPPED")]
    State { name: String, found: String },
}

/// The JSON posted to `createService` or `edit`, and the state to put the
/// service in afterwards.
pub fn to_post(id: &ServiceId, definition: &Value) -> Result<(Value, State), DefinitionError> {
    let name = id.to_string();
    let Value::Object(map) = definition else {
        return Err(DefinitionError::NotObject { name });
    };
    let mut map: Map<String, Value> = map.clone();
    for (field, expected) in [("serviceName", &id.name), ("type", &id.kind)] {
        match map.get(field) {
            None => {}
            Some(Value::String(s)) if s == expected => {}
            Some(other) => {
                return Err(DefinitionError::Mismatch {
                    name,
                    field,
                    found: other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_string),
                    expected: expected.clone(),
                });
            }
        }
        map.insert(field.into(), Value::String(expected.clone()));
    }
    let state = match map.remove("configuredState") {
        None => State::Started,
        Some(Value::String(s)) if s == "STOPPED" => State::Stopped,
        Some(Value::String(s)) if s == "STARTED" => State::Started,
        Some(other) => {
            return Err(DefinitionError::State {
                name,
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string),
            });
        }
    };
    for k in SERVER_ASSIGNED {
        map.remove(*k);
    }
    Ok((Value::Object(map), state))
}

/// Checks of a definition in git for an ArcGIS site (`sitehapair
/// validate --kind ArcGISServer`): the name follows the ArcGIS rules and
/// the definition agrees with it.
pub fn check(name: &str, definition: &Value) -> Result<(), String> {
    let id = ServiceId::parse(name).map_err(|e| e.to_string())?;
    to_post(&id, definition)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
