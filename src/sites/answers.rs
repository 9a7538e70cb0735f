//! What a site answers, read without a network: the caps on answer sizes
//! and the decoding of each call's answer (status and body) into a value
//! or a `SiteError`, its text trimmed and masked (`api::redact`). Pure, so
//! it is unit-tested and fuzzed (fuzz/fuzz_targets/site_answer.rs).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Listing, ModeState, SiteError, SiteInfo};

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

/// How a listing without an `ETag` is remembered: this prefix and a
/// SHA-256 of the listing's scope and raw body. It is the operator's own,
/// never sent to a site (see [`body_tag`]).
pub const BODY_TAG: &str = "sitehapair-body-sha256:";

/// The tag of a listing the site gave no `ETag` for: a SHA-256 of `scope`
/// (the driver's kind and admin URL: the same bytes mean the same services
/// only as the same kind decodes and canonicalises them, from the same
/// place) and of the raw `body`. Equal tags mean the same bytes, so the
/// same services: a listing whose tag is the one remembered is known equal
/// to the listing that was parsed and compared then, and is not parsed.
pub fn body_tag(scope: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((scope.len() as u64).to_le_bytes());
    h.update(scope.as_bytes());
    h.update(body);
    format!("{BODY_TAG}{:x}", h.finalize())
}

/// Is `tag` one of [`body_tag`]'s (else the site's own `ETag`)?
pub fn is_body_tag(tag: &str) -> bool {
    tag.starts_with(BODY_TAG)
}

/// The answer of a `GET /services` sent with `sent` as `If-None-Match`,
/// when the operator remembered `known` (the site's `ETag`, or a
/// [`body_tag`], which is never sent). A 304 to a tag sent is
/// `Unchanged`; a successful answer without an `ETag` is tagged by its
/// body, and is `Unchanged` without being parsed when that tag is the one
/// remembered; anything else is decoded whole (an error status stays an
/// error, whatever its body).
pub fn decode_listing(
    site: &str,
    scope: &str,
    known: Option<&str>,
    status: u16,
    body: &str,
    etag: Option<String>,
) -> Result<Listing, SiteError> {
    let sent = known.filter(|t| !is_body_tag(t));
    if status == 304 && sent.is_some() {
        return Ok(Listing::Unchanged);
    }
    let etag = match etag {
        Some(tag) => Some(tag),
        None if is_success(status) => {
            let ours = body_tag(scope, body.as_bytes());
            if known == Some(ours.as_str()) {
                return Ok(Listing::Unchanged);
            }
            Some(ours)
        }
        None => None,
    };
    let services = decode_services(site, status, body)?;
    Ok(Listing::Full { services, etag })
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

    const LISTED: &str = r#"{"services":{"a":{"x":1}}}"#;
    const SCOPE: &str = "contract http://h/admin/";

    fn full(l: Listing) -> (BTreeMap<String, Value>, Option<String>) {
        match l {
            Listing::Full { services, etag } => (services, etag),
            Listing::Unchanged => panic!("unchanged"),
        }
    }

    #[test]
    fn a_listing_without_an_etag_is_tagged_by_its_body_and_not_parsed_again() {
        let (services, tag) =
            full(decode_listing("e", SCOPE, None, 200, LISTED, None).expect("ok"));
        assert_eq!(services["a"], json!({"x": 1}));
        let tag = tag.expect("a body tag");
        assert!(is_body_tag(&tag), "{tag}");
        // The same bytes again: unchanged, not parsed.
        let again = decode_listing("e", SCOPE, Some(&tag), 200, LISTED, None).expect("ok");
        assert_eq!(again, Listing::Unchanged);
        // One byte more (even where JSON does not care) is read whole.
        let spaced = r#"{"services":{"a":{"x":1} }}"#;
        let (_, other) =
            full(decode_listing("e", SCOPE, Some(&tag), 200, spaced, None).expect("ok"));
        assert_ne!(other.as_deref(), Some(tag.as_str()));
        let changed = r#"{"services":{"a":{"x":2}}}"#;
        let (services, _) =
            full(decode_listing("e", SCOPE, Some(&tag), 200, changed, None).expect("ok"));
        assert_eq!(services["a"], json!({"x": 2}));
    }

    #[test]
    fn a_body_tag_holds_only_for_its_scope_and_a_successful_answer() {
        let tag = body_tag(SCOPE, LISTED.as_bytes());
        // Another kind or admin URL: the same bytes are read whole.
        let elsewhere = decode_listing(
            "e",
            "contract http://g/admin/",
            Some(&tag),
            200,
            LISTED,
            None,
        );
        assert!(matches!(elsewhere, Ok(Listing::Full { .. })));
        // An error is an error, whatever its body.
        let failed = decode_listing("e", SCOPE, Some(&tag), 500, LISTED, None);
        assert!(matches!(failed, Err(SiteError::Status { status: 500, .. })));
        // A 304 never answers a tag that was not sent.
        let not_sent = decode_listing("e", SCOPE, Some(&tag), 304, "", None);
        assert!(not_sent.is_err(), "{not_sent:?}");
        // A scope's end cannot pass for the body's start.
        assert_ne!(body_tag("ab", b"c"), body_tag("a", b"bc"));
    }

    #[test]
    fn a_site_etag_is_kept_and_answers_304_to_itself() {
        let tagged = decode_listing("e", SCOPE, None, 200, LISTED, Some("\"7\"".into()));
        assert_eq!(full(tagged.expect("ok")).1.as_deref(), Some("\"7\""));
        let same = decode_listing("e", SCOPE, Some("\"7\""), 304, "", Some("\"7\"".into()));
        assert_eq!(same.expect("ok"), Listing::Unchanged);
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
