//! What pygeoapi (and the authenticating front before it) answers, read
//! without a network. pygeoapi reports a refusal as
//! `{"code": "...", "type": "...", "description": "..."}`, and answers an
//! unknown resource with **400** `ResourceNotFound`, not 404; a provider
//! it cannot load makes a write answer 500 in HTML after the file was
//! written. Pure, so it is unit-tested.

use serde_json::Value;

use crate::api::redact::{MAX_MESSAGE, mask_secret_values, trim};
use crate::sites::SiteError;

/// An answer that is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `ResourceNotFound` (HTTP 400), or a 404 from the front.
    NotFound,
    /// `Resource exists: <id>` on a create: the running server holds the
    /// resource although its configuration file does not (the server has
    /// not reloaded since the file changed).
    Exists,
    /// Any other refusal, with the server's own words.
    Other { status: u16, message: String },
}

/// Read one admin answer: Ok(body) on success, the refusal otherwise;
/// 401 (and 403) from the front are errors, never refusals.
pub fn decode(
    site: &str,
    call: &str,
    status: u16,
    body: &str,
) -> Result<Result<String, Refusal>, SiteError> {
    if (200..300).contains(&status) {
        return Ok(Ok(body.to_string()));
    }
    if status == 401 {
        return Err(SiteError::Unauthorized {
            site: site.to_string(),
            call: call.to_string(),
        });
    }
    let parsed = serde_json::from_str::<Value>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let description = parsed
        .as_ref()
        .and_then(|v| v.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if status == 404 || (status == 400 && code == "ResourceNotFound") {
        return Ok(Err(Refusal::NotFound));
    }
    if status == 400 && description.starts_with("Resource exists") {
        return Ok(Err(Refusal::Exists));
    }
    let message = match (code, description) {
        ("", "") => text_of(body),
        (c, "") => c.to_string(),
        ("", d) => d.to_string(),
        (c, d) => format!("{c}: {d}"),
    };
    Ok(Err(Refusal::Other {
        status,
        message: trim(&mask_secret_values(&message), MAX_MESSAGE),
    }))
}

/// The words of an answer that is not JSON (pygeoapi's and gunicorn's
/// error pages are HTML): its text without tags, on one line.
fn text_of(body: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error a refusal is, for the call that got it.
pub fn refusal_error(site: &str, call: &str, r: Refusal) -> SiteError {
    let (status, message) = match r {
        Refusal::NotFound => (404, "no such resource".to_string()),
        Refusal::Exists => (409, "the resource exists".to_string()),
        Refusal::Other { status, message } => (status, message),
    };
    SiteError::Status {
        site: site.to_string(),
        call: call.to_string(),
        status,
        message: format!("pygeoapi: {message}"),
    }
}

/// The version from the `X-Powered-By: pygeoapi 0.24.0` header every
/// pygeoapi answer carries.
pub fn version_of(powered_by: Option<&str>) -> Option<String> {
    let v = powered_by?.trim().strip_prefix("pygeoapi")?.trim();
    (!v.is_empty()).then(|| trim(v, 40))
}

/// Is the landing page healthy? A success whose body is a JSON object
/// with `links` (what an OGC API landing page is); any other answer is
/// alive but unhealthy.
pub fn healthy(status: u16, body: &str) -> bool {
    (200..300).contains(&status)
        && serde_json::from_str::<Value>(body)
            .ok()
            .is_some_and(|v| v.get("links").is_some_and(Value::is_array))
}

/// The resources of `GET /admin/config/resources`: an object of id to resource.
pub fn resources_of(site: &str, call: &str, body: &str) -> Result<Vec<(String, Value)>, SiteError> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m.into_iter().collect()),
        _ => Err(SiteError::Decode {
            site: site.to_string(),
            call: call.to_string(),
            message: format!(
                "not an object of resources: {}",
                trim(&mask_secret_values(body), MAX_MESSAGE)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_resource_is_a_400_resource_not_found() {
        let body = r#"{"code":"ResourceNotFound","type":"ResourceNotFound","description":"Resource not found: nope"}"#;
        assert_eq!(
            decode("east", "x", 400, body).expect("answer"),
            Err(Refusal::NotFound)
        );
        assert_eq!(
            decode("east", "x", 404, "not here").expect("answer"),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn a_refused_resource_carries_the_servers_words() {
        let body = r#"{"code":"ValidationError","type":"ValidationError","description":"Schema validation error"}"#;
        let r = decode("east", "x", 400, body).expect("answer").unwrap_err();
        assert_eq!(
            r,
            Refusal::Other {
                status: 400,
                message: "ValidationError: Schema validation error".into()
            }
        );
        let e = refusal_error("east", "POST admin/config/resources", r);
        assert!(
            e.to_string()
                .contains("pygeoapi: ValidationError: Schema validation error"),
            "{e}"
        );
        assert_eq!(e.contact(), crate::api::SiteContact::Failing);
    }

    #[test]
    fn a_create_the_running_server_already_holds_is_told_apart() {
        let body = r#"{"code":"NoApplicableCode","type":"NoApplicableCode","description":"Resource exists: lakes"}"#;
        assert_eq!(
            decode("east", "x", 400, body).expect("answer"),
            Err(Refusal::Exists)
        );
    }

    #[test]
    fn an_html_error_page_is_read_as_its_text_and_the_fronts_401_is_refused_credentials() {
        let body =
            "<!doctype html><title>500 Internal Server Error</title><h1>Internal Server Error</h1>";
        let r = decode("east", "x", 500, body).expect("answer").unwrap_err();
        assert!(
            matches!(&r, Refusal::Other { status: 500, message } if message.starts_with("500 Internal Server Error")),
            "{r:?}"
        );
        let e = decode("east", "x", 401, "").unwrap_err();
        assert_eq!(e.contact(), crate::api::SiteContact::CredentialsRefused);
    }

    #[test]
    fn the_version_is_read_from_x_powered_by() {
        assert_eq!(
            version_of(Some("pygeoapi 0.24.0")).as_deref(),
            Some("0.24.0")
        );
        assert_eq!(version_of(Some("nginx")), None);
        assert_eq!(version_of(None), None);
    }

    #[test]
    fn the_landing_page_is_healthy_only_as_json_with_links() {
        assert!(healthy(200, r#"{"links":[],"title":"x"}"#));
        assert!(!healthy(200, "<html>"));
        assert!(!healthy(503, r#"{"links":[]}"#));
    }
}
