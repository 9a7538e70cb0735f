//! What an ArcGIS Server answers, read without a network. The server
//! reports most failures inside a successful HTTP answer, as
//! `{"status": "error", "messages": [...], "code": N}` (or, from the REST
//! API, `{"error": {"code": N, "message": ..., "details": [...]}}`): both
//! become errors here, so that nothing above the driver mistakes a refusal
//! for success. Pure, so it is unit-tested.

use serde_json::Value;

use crate::api::redact::{MAX_MESSAGE, mask_secret_values, trim};
use crate::sites::SiteError;

/// An answer that is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 498 (invalid or expired token) or 499 (token required): ask for a
    /// new token and try once more.
    Token { code: i64 },
    /// The resource does not exist (404 inside or outside the body).
    NotFound { message: String },
    /// Any other error, with its code (the HTTP status when the body has none).
    Other { code: i64, message: String },
}

/// Read one answer: a JSON object that reports no error, or a refusal.
/// Only an answer that is not JSON at all is a decode error.
pub fn decode(
    site: &str,
    call: &str,
    status: u16,
    body: &str,
) -> Result<Result<Value, Refusal>, SiteError> {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let Some(value) = parsed else {
        if (200..300).contains(&status) {
            return Err(SiteError::Decode {
                site: site.to_string(),
                call: call.to_string(),
                message: format!("not JSON: {}", trim(&mask_secret_values(body), MAX_MESSAGE)),
            });
        }
        return Ok(Err(refusal(status as i64, body.to_string())));
    };
    if let Some(r) = refusal_in(&value) {
        return Ok(Err(r));
    }
    if !(200..300).contains(&status) {
        return Ok(Err(refusal(status as i64, body.to_string())));
    }
    Ok(Ok(value))
}

fn refusal(code: i64, message: String) -> Refusal {
    let message = trim(&mask_secret_values(&message), MAX_MESSAGE);
    match code {
        498 | 499 => Refusal::Token { code },
        404 => Refusal::NotFound { message },
        _ => Refusal::Other { code, message },
    }
}

/// The error an answer reports in its body, if any.
fn refusal_in(v: &Value) -> Option<Refusal> {
    // Administrator API: {"status": "error", "messages": [...], "code": N}
    if v.get("status").and_then(Value::as_str) == Some("error") {
        let code = v.get("code").and_then(Value::as_i64).unwrap_or(500);
        let message = messages(v.get("messages"));
        return Some(refusal(code, message));
    }
    // REST API: {"error": {"code": N, "message": "...", "details": [...]}}
    if let Some(e) = v.get("error").filter(|e| e.is_object()) {
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(500);
        let mut message = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let details = messages(e.get("details"));
        if !details.is_empty() {
            message = format!("{message} {details}");
        }
        return Some(refusal(code, message));
    }
    None
}

fn messages(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A token from `generateToken`: `{"token": "...", "expires": <ms>}`.
pub fn token_of(v: &Value) -> Option<(String, i64)> {
    let token = v.get("token")?.as_str()?.trim();
    if token.is_empty() {
        return None;
    }
    // Documented as a string of milliseconds; some servers give a number.
    let expires = match v.get("expires") {
        Some(Value::String(s)) => s.trim().parse::<i64>().unwrap_or(0),
        Some(x) => x.as_i64().unwrap_or(0),
        None => 0,
    };
    Some((token.to_string(), expires))
}

/// The product version from `admin/info` (`fullVersion`, else
/// `currentversion` or `currentVersion`, which may be a number).
pub fn version_of(v: &Value) -> Option<String> {
    ["fullVersion", "currentversion", "currentVersion"]
        .iter()
        .filter_map(|k| v.get(*k))
        .find_map(|x| match x {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .map(|s| trim(&s, 40))
}

/// A fingerprint of the token configuration's shared key
/// (`properties.sharedKey` of `admin/security/tokens`): the first 16 hex
/// digits of its SHA-256. The key itself is never kept.
pub fn shared_key_fingerprint(v: &Value) -> Option<String> {
    use sha2::{Digest, Sha256};
    let config = v.get("tokenManagerConfig").unwrap_or(v);
    let key = config
        .get("properties")
        .and_then(|p| p.get("sharedKey"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())?;
    let digest = Sha256::digest(key.as_bytes());
    Some(format!("sha256:{}", &hex::encode(digest)[..16]))
}

/// Is the health check's answer healthy? `{"success": true}` with a
/// success status; anything else the server answers is unhealthy (alive,
/// but not to be given traffic).
pub fn healthy(status: u16, body: &str) -> bool {
    (200..300).contains(&status)
        && serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("success").and_then(Value::as_bool))
            == Some(true)
}

/// The error a refusal is, for the call that got it.
pub fn refusal_error(site: &str, call: &str, r: Refusal) -> SiteError {
    match r {
        Refusal::Token { code } => SiteError::Unauthorized {
            site: site.to_string(),
            call: format!("{call} (ArcGIS code {code})"),
        },
        Refusal::NotFound { message } => SiteError::Status {
            site: site.to_string(),
            call: call.to_string(),
            status: 404,
            message,
        },
        Refusal::Other { code, message } => {
            let status = u16::try_from(code)
                .ok()
                .filter(|c| (100..600).contains(c))
                .unwrap_or(500);
            SiteError::Status {
                site: site.to_string(),
                call: call.to_string(),
                status,
                message: format!("ArcGIS error {code}: {message}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_inside_a_success_is_a_refusal() {
        let body =
            r#"{"status":"error","messages":["Service 'x.MapServer' not found."],"code":404}"#;
        let r = decode("east", "x", 200, body).expect("json").unwrap_err();
        assert!(matches!(r, Refusal::NotFound { .. }), "{r:?}");
        let body = r#"{"status":"error","messages":["Invalid token."],"code":498}"#;
        assert_eq!(
            decode("east", "x", 200, body).expect("json"),
            Err(Refusal::Token { code: 498 })
        );
        let body = r#"{"error":{"code":499,"message":"Token Required","details":[]}}"#;
        assert_eq!(
            decode("east", "x", 200, body).expect("json"),
            Err(Refusal::Token { code: 499 })
        );
        let body = r#"{"status":"error","messages":["Folder 'Hydro' already exists."],"code":500}"#;
        let r = decode("east", "x", 200, body).expect("json").unwrap_err();
        assert!(
            matches!(r, Refusal::Other { code: 500, ref message } if message.contains("already exists")),
            "{r:?}"
        );
        assert_eq!(
            decode("east", "x", 200, r#"{"status":"success"}"#).expect("json"),
            Ok(json!({"status":"success"}))
        );
    }

    #[test]
    fn an_answer_that_is_not_json_is_a_decode_error_and_an_http_error_a_refusal() {
        let e = decode("east", "POST admin/info", 200, "<html>login</html>").unwrap_err();
        assert!(matches!(e, SiteError::Decode { .. }), "{e}");
        let r = decode("east", "x", 502, "Bad Gateway")
            .expect("refusal")
            .unwrap_err();
        assert!(matches!(r, Refusal::Other { code: 502, .. }), "{r:?}");
        let e = refusal_error("east", "x", r);
        assert_eq!(e.contact(), crate::api::SiteContact::Failing);
    }

    #[test]
    fn token_refusals_are_credential_refusals_and_never_silence() {
        let e = refusal_error("east", "POST admin/info", Refusal::Token { code: 498 });
        assert_eq!(
            e.contact(),
            crate::api::SiteContact::CredentialsRefused,
            "{e}"
        );
        let e = refusal_error(
            "east",
            "x",
            Refusal::Other {
                code: 403,
                message: "no".into(),
            },
        );
        assert_eq!(
            e.contact(),
            crate::api::SiteContact::CredentialsRefused,
            "{e}"
        );
    }

    #[test]
    fn a_password_echoed_in_an_error_is_masked() {
        let body =
            r#"{"status":"error","messages":["bad {\"password\": \"hunter2\"}"],"code":500}"#;
        let r = decode("east", "x", 200, body).expect("json").unwrap_err();
        assert!(!format!("{r:?}").contains("hunter2"), "{r:?}");
    }

    #[test]
    fn the_shared_key_is_fingerprinted_never_kept() {
        let v = json!({"type": "BUILTIN", "properties": {"sharedKey": "k3y", "shortTimeout": 60}});
        let f = shared_key_fingerprint(&v).expect("fingerprint");
        assert!(
            f.starts_with("sha256:") && f.len() == 23 && !f.contains("k3y"),
            "{f}"
        );
        let wrapped = json!({"tokenManagerConfig": {"properties": {"sharedKey": "k3y"}}});
        assert_eq!(shared_key_fingerprint(&wrapped), Some(f));
        assert_eq!(shared_key_fingerprint(&json!({"properties": {}})), None);
    }

    #[test]
    fn a_token_expiry_is_read_as_the_documented_string_or_a_number() {
        let t = json!({"token": "abc", "expires": "13472658353687"});
        assert_eq!(token_of(&t), Some(("abc".into(), 13_472_658_353_687)));
        let t = json!({"token": "abc", "expires": 1_700_000_000_000_i64});
        assert_eq!(token_of(&t), Some(("abc".into(), 1_700_000_000_000)));
        assert_eq!(token_of(&json!({"token": " "})), None);
    }

    #[test]
    fn health_needs_success_true() {
        assert!(healthy(200, r#"{"success":true}"#));
        assert!(!healthy(200, r#"{"success":false}"#));
        assert!(!healthy(503, r#"{"success":true}"#));
        assert!(!healthy(200, "OK"));
    }

    #[test]
    fn versions_come_from_the_documented_fields() {
        assert_eq!(
            version_of(&json!({"fullVersion": "11.3.0", "currentversion": "11.3"})).as_deref(),
            Some("11.3.0")
        );
        assert_eq!(
            version_of(&json!({"currentVersion": 11.3})).as_deref(),
            Some("11.3")
        );
        assert_eq!(version_of(&json!({})), None);
    }
}
