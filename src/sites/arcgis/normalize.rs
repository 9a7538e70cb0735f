//! An ArcGIS service definition as git holds it, read from and written to
//! the server's admin JSON. Pure.
//!
//! Reading: the service's admin JSON (`GET admin/services/[F/]N.T`) less
//! what the server assigns or changes by itself ([`SERVER_ASSIGNED`]), plus
//! the started/stopped state from its `status` resource as
//! `configuredState`, present only when the service is `STOPPED` (started
//! is how a created service comes up, so a definition that says nothing
//! means started).
//!
//! Writing: the same JSON, with `serviceName` and `type` taken from the
//! name (a definition that names another service is refused), and
//! `configuredState` split off: the server is told the state with its
//! `start` and `stop` operations, not in the JSON.

use serde_json::{Map, Value};

use super::names::ServiceId;

/// Top-level fields of a service's admin JSON that the server assigns or
/// updates itself: identifiers (`serverId`, `id`), the federated portal's
/// item references (`portalProperties`), the run-time state
/// (`realTimeState`; `configuredState` comes from the status resource),
/// and the folder, which the name carries (`folderName`).
pub const SERVER_ASSIGNED: &[&str] = &[
    "serverId",
    "id",
    "portalProperties",
    "realTimeState",
    "configuredState",
    "folderName",
];

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
    let mut map = match admin {
        Value::Object(m) => m,
        other => return other,
    };
    for k in SERVER_ASSIGNED {
        map.remove(*k);
    }
    if configured == Some(State::Stopped) {
        map.insert("configuredState".into(), Value::String("STOPPED".into()));
    }
    Value::Object(map)
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
    #[error(
        "{name}: configuredState STARTED is how a service comes up; leave it out (only STOPPED is written in git)"
    )]
    ExplicitStarted { name: String },
}

/// The JSON posted to `createService` or `edit`, and the state to put the
/// service in afterwards. (An explicit `configuredState: STARTED` is taken
/// as started; `check` asks to leave it out, since a site reads it back
/// without it.)
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
/// validate --kind ArcGISServer`): the name and the definition agree.
pub fn check(name: &str, definition: &Value) -> Result<(), String> {
    let id = ServiceId::parse(name).map_err(|e| e.to_string())?;
    to_post(&id, definition).map_err(|e| e.to_string())?;
    if let Value::Object(m) = definition {
        if m.get("configuredState").and_then(Value::as_str) == Some("STARTED") {
            return Err(DefinitionError::ExplicitStarted {
                name: id.to_string(),
            }
            .to_string());
        }
        for k in SERVER_ASSIGNED.iter().filter(|k| **k != "configuredState") {
            if m.contains_key(*k) {
                return Err(format!(
                    "{name}: {k} is assigned by the server; leave it out of git"
                ));
            }
        }
    }
    Ok(())
}
