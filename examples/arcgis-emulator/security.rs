//! The token manager configuration and the site mode: their documented
//! read shapes and update operations, on the [`Site`].
//!
//! - `GET /admin/security/tokens` answers `{"type": "BUILTIN", "properties":
//!   {"sharedKey", "longTimeout", "shortTimeout"}}`, the timeouts as strings
//!   of minutes as in the documented example
//!   (<https://developers.arcgis.com/rest/enterprise-administration/server/tokens.htm>);
//!   the documented defaults are longTimeout 1440, shortTimeout 60
//!   (<https://resources.arcgis.com/en/help/server-admin-api/tokenManager.html>).
//! - `POST /admin/security/tokens/update` takes `tokenManagerConfig` of that
//!   shape (<https://developers.arcgis.com/rest/enterprise-administration/server/updatetokenconfig.htm>).
//! - `GET /admin/mode` answers `{"siteMode", "copyConfigLocal",
//!   "lastModified"}` (the documented response properties,
//!   <https://developers.arcgis.com/rest/enterprise-administration/server/mode.htm>)
//!   and `POST /admin/mode/update` takes `siteMode=READ_ONLY|EDITABLE`, with
//!   optional `runAsync` and `allowEditingViaServices` booleans
//!   (<https://developers.arcgis.com/rest/enterprise-administration/server/update-site-mode.htm>).

use serde_json::{Value, json};

use crate::model::{ApiError, Site};

/// A timeout given as a JSON number or a string of digits, in minutes.
fn minutes(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|m| *m > 0)
}

impl Site {
    pub fn tokens_json(&self) -> Value {
        json!({
            "type": "BUILTIN",
            "properties": {
                "sharedKey": self.shared_key,
                "longTimeout": self.long_timeout.to_string(),
                "shortTimeout": self.short_timeout.to_string(),
            }
        })
    }

    /// Apply a `tokenManagerConfig`; properties left out keep their value.
    /// Returns whether the shared key changed (which invalidates every
    /// token issued before).
    pub fn update_tokens(&mut self, text: Option<&str>) -> Result<bool, ApiError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Err(ApiError::new(
                400,
                "The 'tokenManagerConfig' parameter is required.",
            ));
        };
        let config: Value = serde_json::from_str(text).map_err(|e| {
            ApiError::new(400, format!("'tokenManagerConfig' is not valid JSON: {e}"))
        })?;
        if let Some(t) = config.get("type")
            && t.as_str() != Some("BUILTIN")
        {
            return Err(ApiError::new(
                400,
                "Only the BUILTIN token manager is supported.",
            ));
        }
        let Some(props) = config.get("properties").and_then(Value::as_object) else {
            return Err(ApiError::new(
                400,
                "'tokenManagerConfig' must hold a 'properties' object.",
            ));
        };
        let key = match props.get("sharedKey") {
            None => None,
            Some(Value::String(k)) if !k.is_empty() => Some(k.clone()),
            Some(_) => {
                return Err(ApiError::new(
                    400,
                    "'sharedKey' must be a non-empty string.",
                ));
            }
        };
        let long = match props.get("longTimeout") {
            None => self.long_timeout,
            Some(v) => minutes(v).ok_or_else(|| {
                ApiError::new(400, "'longTimeout' must be a positive number of minutes.")
            })?,
        };
        let short = match props.get("shortTimeout") {
            None => self.short_timeout,
            Some(v) => minutes(v).ok_or_else(|| {
                ApiError::new(400, "'shortTimeout' must be a positive number of minutes.")
            })?,
        };
        if short > long {
            return Err(ApiError::new(
                400,
                "'shortTimeout' cannot exceed 'longTimeout'.",
            ));
        }
        let changed = key.as_ref().is_some_and(|k| *k != self.shared_key);
        if let Some(k) = key {
            self.shared_key = k;
        }
        self.long_timeout = long;
        self.short_timeout = short;
        Ok(changed)
    }

    pub fn mode_json(&self) -> Value {
        json!({
            "siteMode": self.site_mode,
            "copyConfigLocal": true,
            "lastModified": self.mode_last_modified,
        })
    }

    /// `POST /admin/mode/update`. `runAsync` is accepted; the change is
    /// always made at once.
    pub fn update_mode(
        &mut self,
        site_mode: Option<&str>,
        flags: &[(&str, Option<Result<bool, String>>)],
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let mode = match site_mode.map(str::trim) {
            Some("READ_ONLY") => "READ_ONLY",
            Some("EDITABLE") => "EDITABLE",
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(ApiError::new(
                    400,
                    format!("Invalid siteMode '{shown}': use READ_ONLY or EDITABLE."),
                ));
            }
            None => return Err(ApiError::new(400, "The 'siteMode' parameter is required.")),
        };
        for (name, value) in flags {
            if let Some(Err(v)) = value {
                let shown: String = v.chars().take(40).collect();
                return Err(ApiError::new(
                    400,
                    format!("'{name}' must be true or false, not '{shown}'."),
                ));
            }
        }
        if self.site_mode != mode {
            self.site_mode = mode.to_string();
            self.mode_last_modified = now_ms;
        }
        Ok(())
    }
}
