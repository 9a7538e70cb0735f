//! The site an emulator holds: folders (one level, as documented: "ArcGIS
//! Server supports only a single level hierarchy of folders",
//! <https://developers.arcgis.com/rest/enterprise-administration/server/createfolder.htm>),
//! services with their configured state, the token configuration and the
//! site mode; and the Administrator API's operations on them as plain
//! functions (no I/O, ids and time passed in), answering the documented JSON
//! or an [`ApiError`]. How a stored service is shown (the fields a real
//! server adds) lives in `service_json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::service_json::{folder_summary, full_json};

/// An Administrator API error: answered with HTTP 200 and
/// `{"status":"error","messages":[...],"code":N}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub messages: Vec<String>,
}

impl ApiError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            messages: vec![message.into()],
        }
    }
}

/// What an operation refused in READ_ONLY mode answers. The mode page says
/// READ_ONLY will "disallow the publishing of new services and block most
/// administrative operations"
/// (<https://developers.arcgis.com/rest/enterprise-administration/server/mode.htm>);
/// the wording and code of the refusal are not documented.
fn read_only() -> ApiError {
    ApiError::new(
        403,
        "The site is in READ_ONLY mode; publishing and administrative changes are blocked.",
    )
}

/// One folder (the root folder too) and its services, keyed `name.type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub description: String,
    /// A server-owned folder (System, Utilities).
    pub is_default: bool,
    pub services: BTreeMap<String, Service>,
}

/// One service: the JSON last posted (createService or edit) and what the
/// server keeps beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub posted: Map<String, Value>,
    /// The configured state: STARTED (true) or STOPPED.
    pub started: bool,
    /// Server-assigned service id.
    pub id: String,
    /// Server-assigned portal item id.
    pub item_id: String,
    /// A service the server deployed itself.
    pub builtin: bool,
}

/// The whole site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub server_id: String,
    pub shared_key: String,
    /// Token manager timeouts, minutes.
    pub short_timeout: u64,
    pub long_timeout: u64,
    /// EDITABLE or READ_ONLY.
    pub site_mode: String,
    pub mode_last_modified: i64,
    pub root: Folder,
    pub folders: BTreeMap<String, Folder>,
}

/// Ids a new service gets.
pub struct NewIds {
    pub id: String,
    pub item_id: String,
}

impl NewIds {
    pub fn random() -> Self {
        Self {
            id: uuid_like("s"),
            item_id: crate::tokens::random_hex(16),
        }
    }
}

/// `<prefix>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, the shape of the `id` and
/// `serverId` in the documented service JSON
/// (<https://developers.arcgis.com/rest/enterprise-administration/enterprise/folder.htm>).
pub fn uuid_like(prefix: &str) -> String {
    let h = crate::tokens::random_hex(16);
    format!(
        "{prefix}{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Folder {
    pub fn new(description: &str, is_default: bool) -> Self {
        Self {
            description: description.to_string(),
            is_default,
            services: BTreeMap::new(),
        }
    }
}

/// Folder and service names are case-sensitive, at most 120 characters,
/// and hold only `A-Z`, `a-z`, `0-9`, `_` and `-` (IServerObjectConfiguration.Name,
/// <https://desktop.arcgis.com/en/arcobjects/10.5/net/IServerObjectConfiguration_Name.htm>);
/// createFolder on Enterprise adds that a folder name "must not contain any
/// spaces" (<https://developers.arcgis.com/rest/enterprise-administration/enterprise/create-folder.htm>).
pub fn valid_name(name: &str) -> bool {
    (1..=120).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A service type: `MapServer`, `GPServer`, `FeatureServer`, ... (letters
/// ending in `Server`).
pub fn valid_type(kind: &str) -> bool {
    kind.len() > "Server".len()
        && kind.len() <= 40
        && kind.ends_with("Server")
        && kind.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Echo a caller's name back at most this long.
fn shown(s: &str) -> String {
    s.chars().take(130).collect()
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        return Ok(());
    }
    Err(ApiError::new(
        400,
        format!(
            "{what} name '{}' is not valid: use 1 to 120 letters, digits, underscores or hyphens.",
            shown(name)
        ),
    ))
}

fn parse_object(what: &str, text: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Err(ApiError::new(
            400,
            format!("The '{what}' parameter is required."),
        ));
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::new(
            400,
            format!("'{what}' must be a JSON object."),
        )),
        Err(e) => Err(ApiError::new(
            400,
            format!("'{what}' is not valid JSON: {e}"),
        )),
    }
}

fn string_field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

impl Site {
    /// A new site; with `builtins`, the System and Utilities folders and
    /// their services (all STARTED).
    pub fn new(shared_key: String, builtins: bool, now_ms: i64) -> Self {
        let mut site = Self {
            server_id: uuid_like("v"),
            shared_key,
            short_timeout: 60,
            long_timeout: 1440,
            site_mode: "EDITABLE".into(),
            mode_last_modified: now_ms,
            root: Folder::new("Root folder", false),
            folders: BTreeMap::new(),
        };
        if builtins {
            crate::builtins::add(&mut site);
        }
        site
    }

    fn editable(&self) -> Result<(), ApiError> {
        if self.site_mode == "READ_ONLY" {
            return Err(read_only());
        }
        Ok(())
    }

    /// The root folder (`None`) or a named one.
    pub fn folder(&self, name: Option<&str>) -> Result<&Folder, ApiError> {
        match name {
            None => Ok(&self.root),
            Some(n) => self.folders.get(n).ok_or_else(|| no_folder(n)),
        }
    }

    fn folder_mut(&mut self, name: Option<&str>) -> Result<&mut Folder, ApiError> {
        match name {
            None => Ok(&mut self.root),
            Some(n) => self.folders.get_mut(n).ok_or_else(|| no_folder(n)),
        }
    }

    pub fn service(&self, folder: Option<&str>, key: &str) -> Result<&Service, ApiError> {
        self.folder(folder)?
            .services
            .get(key)
            .ok_or_else(|| no_service(key))
    }

    fn service_mut(&mut self, folder: Option<&str>, key: &str) -> Result<&mut Service, ApiError> {
        self.folder_mut(folder)?
            .services
            .get_mut(key)
            .ok_or_else(|| no_service(key))
    }

    /// `POST /admin/services/createFolder`.
    pub fn create_folder(&mut self, name: Option<&str>, description: &str) -> Result<(), ApiError> {
        self.editable()?;
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(ApiError::new(
                400,
                "The 'folderName' parameter is required.",
            ));
        };
        check_name("Folder", name)?;
        if self.folders.contains_key(name) {
            return Err(ApiError::new(
                400,
                format!("Folder '{name}' already exists."),
            ));
        }
        self.folders
            .insert(name.to_string(), Folder::new(description, false));
        Ok(())
    }

    /// `POST /admin/services/<folder>/deleteFolder`: "deletes a folder and
    /// all services within it"
    /// (<https://developers.arcgis.com/rest/enterprise-administration/server/deletefolder.htm>).
    pub fn delete_folder(&mut self, name: &str) -> Result<(), ApiError> {
        self.editable()?;
        let folder = self.folder(Some(name))?;
        if folder.is_default {
            return Err(ApiError::new(
                400,
                format!("Folder '{name}' is owned by the server and cannot be deleted."),
            ));
        }
        self.folders.remove(name);
        Ok(())
    }

    /// `POST /admin/services/[<folder>/]createService` with `service=<JSON>`.
    /// A service is created STARTED unless its JSON says `"configuredState":
    /// "STOPPED"` (a documented service framework property; the createService
    /// example posts `"configuredState": "STARTED"`).
    pub fn create_service(
        &mut self,
        folder: Option<&str>,
        text: Option<&str>,
        ids: NewIds,
    ) -> Result<String, ApiError> {
        self.editable()?;
        self.folder(folder)?;
        let posted = parse_object("service", text)?;
        let (Some(name), Some(kind)) = (
            string_field(&posted, "serviceName"),
            string_field(&posted, "type"),
        ) else {
            return Err(ApiError::new(
                400,
                "The service JSON must hold 'serviceName' and 'type'.",
            ));
        };
        check_name("Service", name)?;
        if !valid_type(kind) {
            return Err(ApiError::new(
                400,
                format!("Service type '{}' is not valid.", shown(kind)),
            ));
        }
        let key = format!("{name}.{kind}");
        let started = !string_field(&posted, "configuredState")
            .is_some_and(|s| s.eq_ignore_ascii_case("STOPPED"));
        let svc = Service {
            name: name.to_string(),
            kind: kind.to_string(),
            posted: posted.clone(),
            started,
            id: ids.id,
            item_id: ids.item_id,
            builtin: false,
        };
        let f = self.folder_mut(folder)?;
        if f.services.contains_key(&key) {
            return Err(ApiError::new(
                400,
                format!("Service '{key}' already exists."),
            ));
        }
        f.services.insert(key.clone(), svc);
        Ok(key)
    }

    /// `POST .../<name>.<type>/edit` with the complete service JSON: "You can
    /// leave out the serviceName and type parameters in the JSON. Any other
    /// properties that are left out of the JSON are not persisted by the
    /// server" (<https://developers.arcgis.com/rest/enterprise-administration/server/editservice.htm>).
    /// The configured state is not changed by an edit.
    pub fn edit_service(
        &mut self,
        folder: Option<&str>,
        key: &str,
        text: Option<&str>,
    ) -> Result<(), ApiError> {
        self.editable()?;
        self.service(folder, key)?;
        let posted = parse_object("service", text)?;
        let svc = self.service_mut(folder, key)?;
        for (field, want) in [("serviceName", &svc.name), ("type", &svc.kind)] {
            if let Some(given) = posted.get(field)
                && given.as_str() != Some(want.as_str())
            {
                return Err(ApiError::new(
                    400,
                    format!(
                        "'{field}' in the service JSON does not match the service being edited ({key}); use renameService to rename."
                    ),
                ));
            }
        }
        svc.posted = posted;
        Ok(())
    }

    /// `POST .../<name>.<type>/delete`. Built-in services cannot be deleted
    /// (documented for CachingTools; the emulator keeps all its built-ins).
    pub fn delete_service(&mut self, folder: Option<&str>, key: &str) -> Result<(), ApiError> {
        self.editable()?;
        if self.service(folder, key)?.builtin {
            return Err(ApiError::new(
                400,
                format!("Service '{key}' is owned by the server and cannot be deleted."),
            ));
        }
        self.folder_mut(folder)?.services.remove(key);
        Ok(())
    }

    /// `POST .../start` and `.../stop`.
    pub fn set_started(
        &mut self,
        folder: Option<&str>,
        key: &str,
        started: bool,
    ) -> Result<(), ApiError> {
        self.service_mut(folder, key)?.started = started;
        Ok(())
    }

    /// `.../status`: `{"configuredState","realTimeState"}`
    /// (<https://developers.arcgis.com/rest/enterprise-administration/server/service-status.htm>).
    /// The emulator's services are always in the state they are configured in.
    pub fn status_json(&self, folder: Option<&str>, key: &str) -> Result<Value, ApiError> {
        let state = state_name(self.service(folder, key)?.started);
        Ok(json!({"configuredState": state, "realTimeState": state}))
    }

    /// One service's full JSON (see `service_json`).
    pub fn service_json(&self, folder: Option<&str>, key: &str) -> Result<Value, ApiError> {
        Ok(full_json(self, self.service(folder, key)?))
    }

    /// `GET /admin/services[?detail=true]`: the documented root folder shape
    /// (<https://developers.arcgis.com/rest/enterprise-administration/server/services.htm>):
    /// folderName "/", description, webEncrypted, isDefault, folders,
    /// foldersDetail and the root's services (summaries; with detail=true the
    /// full service JSON).
    pub fn root_json(&self, detail: bool) -> Value {
        let services: Vec<Value> = self
            .root
            .services
            .values()
            .map(|s| {
                if detail {
                    full_json(self, s)
                } else {
                    folder_summary("/", s)
                }
            })
            .collect();
        let details: Vec<Value> = self
            .folders
            .iter()
            .map(|(name, f)| {
                json!({"folderName": name, "description": f.description,
                       "webEncrypted": false, "isDefault": f.is_default})
            })
            .collect();
        json!({
            "folderName": "/",
            "description": self.root.description,
            "webEncrypted": false,
            "isDefault": false,
            "folders": self.folders.keys().collect::<Vec<_>>(),
            "foldersDetail": details,
            "services": services,
        })
    }

    /// `GET /admin/services/<folder>`: folderName, description, services
    /// (<https://developers.arcgis.com/rest/enterprise-administration/server/folder.htm>).
    pub fn folder_json(&self, name: &str) -> Result<Value, ApiError> {
        let f = self.folder(Some(name))?;
        let services: Vec<Value> = f
            .services
            .values()
            .map(|s| folder_summary(name, s))
            .collect();
        Ok(json!({"folderName": name, "description": f.description, "services": services}))
    }
}

pub fn state_name(started: bool) -> &'static str {
    if started { "STARTED" } else { "STOPPED" }
}

/// An unknown folder. The wording is not documented.
fn no_folder(name: &str) -> ApiError {
    ApiError::new(404, format!("Folder '{}' does not exist.", shown(name)))
}

/// An unknown service. The wording is not documented.
fn no_service(key: &str) -> ApiError {
    ApiError::new(404, format!("Service '{}' does not exist.", shown(key)))
}
