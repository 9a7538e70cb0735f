//! What a site answers, read without a network: the caps on answer sizes,
//! the trimming and masking of site-provided text, and the decoding of each
//! call's answer (status and body) into a value or a `SiteError`. Pure, so
//! it is unit-tested and fuzzed (fuzz/fuzz_targets/site_answer.rs).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ModeState, SiteError, SiteInfo};

/// Largest answer read from `GET /services` (thousands of services).
pub const MAX_SERVICES_BODY: usize = 64 * 1024 * 1024;
/// Largest answer read from any other call.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest site-provided text kept in an error (it reaches status and Events).
pub const MAX_MESSAGE: usize = 200;
/// Longest `ETag` kept; a longer one is ignored (the site is listed whole).
pub const MAX_ETAG: usize = 256;
/// Longest redirect target shown in an error.
pub(super) const MAX_LOCATION: usize = 120;

/// At most `max` characters of `s` (trimmed), the mark `…` included when cut.
/// Control characters (newlines, terminal escapes) become spaces: site
/// text reaches status, Events and log lines on one line, inert.
pub fn trim(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = clean.trim();
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) if max == 0 => String::new(),
        Some(_) => {
            // Cut before the (max-1)th character so the mark fits in `max`.
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..cut])
        }
    }
}

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

/// `text` with the string value of every secret-looking JSON key replaced
/// by `***`, in plain (`"password": "x"`) and escaped (`\"password\":
/// \"x\"`) form: a site that echoes a service definition in an error does
/// not carry its passwords into status, Events or logs. A value that does
/// not end is masked to the end of the text.
pub fn mask_secret_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(c) = text[i..].find(':') {
        let colon = i + c;
        match secret_value_after(text, colon) {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str("***");
                copied = end;
                i = end;
            }
            None => i = colon + 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The byte range of the string value after the colon at `colon`, when the
/// quoted key before the colon looks secret.
fn secret_value_after(text: &str, colon: usize) -> Option<(usize, usize)> {
    let before = text[..colon].trim_end();
    let before = before.strip_suffix('"')?;
    let before = before.strip_suffix('\\').unwrap_or(before);
    let open = before.rfind('"')?;
    let key = before[open + 1..].to_ascii_lowercase();
    if key.len() > 64 || !crate::api::redact::is_secret_key(&key) {
        return None;
    }
    let after = &text[colon + 1..];
    let value = after.trim_start();
    let offset = colon + 1 + (after.len() - value.len());
    if let Some(v) = value.strip_prefix("\\\"") {
        let start = offset + 2;
        let end = v.find("\\\"").map_or(text.len(), |e| start + e);
        return Some((start, end));
    }
    let v = value.strip_prefix('"')?;
    let start = offset + 1;
    let bytes = v.as_bytes();
    let end = (0..bytes.len())
        .find(|&j| bytes[j] == b'"' && (j == 0 || bytes[j - 1] != b'\\'))
        .map_or(text.len(), |e| start + e);
    Some((start, end))
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
    fn trimmed_text_with_its_mark_fits_the_limit() {
        assert_eq!(trim("abcdef", 6), "abcdef");
        assert_eq!(trim("abcdefg", 6), "abcde…");
        assert_eq!(trim("ééééééé", 3), "éé…");
        assert_eq!(trim("abc", 0), "");
        assert_eq!(trim("", 0), "");
        let long = "y".repeat(MAX_MESSAGE + 1);
        assert_eq!(trim(&long, MAX_MESSAGE).chars().count(), MAX_MESSAGE);
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
    fn secret_looking_values_in_site_text_are_masked() {
        let plain = r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "hunter2"}, "apiToken":"abc"}"#;
        assert_eq!(
            mask_secret_values(plain),
            r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "***"}, "apiToken":"***"}"#
        );
        let escaped = r#"{"error": "bad {\"secretKey\":\"s3\",\"url\":\"http://x\"}"}"#;
        assert_eq!(
            mask_secret_values(escaped),
            r#"{"error": "bad {\"secretKey\":\"***\",\"url\":\"http://x\"}"}"#
        );
        // An escaped quote inside the value, a value cut short, text that only looks alike.
        assert_eq!(
            mask_secret_values(r#""password": "a\"b", "x": "y""#),
            r#""password": "***", "x": "y""#
        );
        assert_eq!(
            mask_secret_values(r#"é "token": "never ends"#),
            r#"é "token": "***"#
        );
        let untouched =
            r#"the password is wrong: "user": "gis", token: plain, "url": "http://h:1""#;
        assert_eq!(mask_secret_values(untouched), untouched);
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

    #[test]
    fn control_characters_in_site_text_become_spaces() {
        let t = trim("disk full\n\u{1b}[31mFAKE LOG LINE\r\u{7}", MAX_MESSAGE);
        assert_eq!(t, "disk full  [31mFAKE LOG LINE");
        assert!(!t.chars().any(char::is_control), "{t:?}");
    }
}
