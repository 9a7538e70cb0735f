//! What a site answers, read without a network: the caps on answer sizes
//! and the decoding of each call's answer (status and body) into a value
//! or a `SiteError`, its text trimmed and masked (`api::redact`). Pure, so
//! it is unit-tested and fuzzed (fuzz/fuzz_targets/site_answer.rs).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ModeState, SiteError, SiteInfo};

/// The trimming and masking of site text live with the rest of what may
/// be shown (`api::redact`); re-exported for the site driver's callers
/// (`sites::http::MAX_MESSAGE`).
pub use crate::api::redact::{MAX_MESSAGE, mask_secret_values, trim};

/// Largest answer read from `GET /services` (thousands of services).
pub const MAX_SERVICES_BODY: usize = 64 * 1024 * 1024;
/// Largest answer read from any other call.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest `ETag` kept; a longer one is ignored (the site is listed whole).
pub const MAX_ETAG: usize = 256;
/// Longest redirect target shown in an error.
pub(super) const MAX_LOCATION: usize = 120;

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The error for an answer that is not a success: the body's `error` field
/// when it is JSON with one, else the whole body, trimmed to [`MAX_MESSAGE`].
pub fn status_error(site: &str, call: &str, status: u16, body: &str) -> SiteError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| body.to_string());
    let message = trim(&mask_secret_values(&message), MAX_MESSAGE);
    match status {
        401 => SiteError::Unauthorized {
            site: site.to_string(),
            call: call.to_string(),
        },
        409 => SiteError::Fenced {
            site: site.to_string(),
            call: call.to_string(),
            message,
        },
        _ => SiteError::Status {
            site: site.to_string(),
            call: call.to_string(),
            status,
            message,
        },
    }
}

/// A JSON answer of `call`: an error status becomes [`status_error`], a body
/// that is not a `T` a `Decode` error (its message trimmed).
pub fn decode_json<T: DeserializeOwned>(
    site: &str,
    call: &str,
    status: u16,
    body: &str,
) -> Result<T, SiteError> {
    if !is_success(status) {
        return Err(status_error(site, call, status, body));
    }
    serde_json::from_str(body).map_err(|e| SiteError::Decode {
        site: site.to_string(),
        call: call.to_string(),
        message: trim(&e.to_string(), MAX_MESSAGE),
    })
}

/// The answer of `GET /health`: success is healthy, 503 unhealthy.
pub fn decode_health(site: &str, call: &str, status: u16, body: &str) -> Result<bool, SiteError> {
    match status {
        s if is_success(s) => Ok(true),
        503 => Ok(false),
        s => Err(status_error(site, call, s, body)),
    }
}

/// The answer of `GET /info`.
pub fn decode_info(site: &str, status: u16, body: &str) -> Result<SiteInfo, SiteError> {
    decode_json(site, "GET /info", status, body)
}

/// The answer of `GET /mode` or `PUT /mode` (`call` names which).
pub fn decode_mode(
    site: &str,
    call: &str,
    status: u16,
    body: &str,
) -> Result<ModeState, SiteError> {
    decode_json(site, call, status, body)
}

/// The answer of `GET /services`: service name to definition.
pub fn decode_services(
    site: &str,
    status: u16,
    body: &str,
) -> Result<BTreeMap<String, Value>, SiteError> {
    let answer: ServicesAnswer = decode_json(site, "GET /services", status, body)?;
    Ok(answer.services)
}

#[derive(serde::Deserialize)]
struct ServicesAnswer {
    services: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::Mode;
    use serde_json::json;

    #[test]
    fn site_text_is_trimmed() {
        let long = "x".repeat(5000);
        let e = status_error("east", "GET /mode", 500, &long);
        assert!(e.to_string().len() < 300, "{e}");
        let echo = format!("{{\"error\": \"{long}\"}}");
        let e = status_error("east", "PUT /services/a", 400, &echo);
        assert!(e.to_string().len() < 300, "{e}");
        assert_eq!(trim("  short  ", 10), "short");
    }

    #[test]
    fn answers_decode_by_status_and_body() {
        assert!(decode_health("e", "GET /health", 200, "").expect("ok"));
        assert!(!decode_health("e", "GET /health", 503, "").expect("ok"));
        assert!(matches!(
            decode_health("e", "GET /health", 500, "{\"error\":\"disk\"}"),
            Err(SiteError::Status { status: 500, ref message, .. }) if message == "disk"
        ));
        let m = decode_mode("e", "GET /mode", 200, r#"{"mode":"active","epoch":3}"#).expect("mode");
        assert_eq!(
            m,
            ModeState {
                mode: Mode::Active,
                epoch: 3
            }
        );
        assert!(matches!(
            decode_mode("e", "PUT /mode", 409, r#"{"error":"epoch 2 < 3"}"#),
            Err(SiteError::Fenced { .. })
        ));
        assert!(matches!(
            decode_mode("e", "GET /mode", 200, r#"{"mode":"boss","epoch":3}"#),
            Err(SiteError::Decode { .. })
        ));
        assert!(matches!(
            decode_info("e", 401, ""),
            Err(SiteError::Unauthorized { .. })
        ));
        let info = decode_info("e", 200, r#"{"product":"p","version":"1"}"#).expect("info");
        assert_eq!(info.token_key_fingerprint, None);
        let s = decode_services("e", 200, r#"{"services":{"a":{"x":1}}}"#).expect("services");
        assert_eq!(s["a"], json!({"x": 1}));
    }

    #[test]
    fn an_echoed_definition_reaches_the_error_masked_and_trimmed() {
        let echo = json!({"error": format!(
            "cannot store {}{}",
            json!({"name": "roads", "connection": {"password": "hunter2-s3cr3t"}}),
            "x".repeat(10_000)
        )})
        .to_string();
        let e = status_error("east", "PUT /services/roads", 500, &echo);
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(r#""password":"***""#), "{text}");
        assert!(text.chars().count() < 300 && text.ends_with('…'), "{text}");
    }
}
