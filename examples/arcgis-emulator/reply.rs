//! Answers and their shapes.
//!
//! The Administrator API answers errors with HTTP 200 and
//! `{"status":"error","messages":[...],"code":N}`, and operations with
//! `{"status":"success"}` (e.g. createFolder,
//! <https://developers.arcgis.com/rest/enterprise-administration/server/createfolder.htm>).
//! The docs give no HTTP status for token errors (498, 499); a real server
//! answers them with HTTP 200 too, as recorded from a 10.5.1 site in
//! `curl -i` transcripts (Content-Type `text/plain;charset=UTF-8`, which the
//! emulator also sends for f=json).
//!
//! With `f=html` (the documented default) the same JSON is answered inside a
//! minimal HTML page, so a person or a browser gets something sane.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::ApiError;
use crate::params::Format;

/// One answer, and what the request log records of it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// The ArcGIS error code, for the request log.
    pub error_code: Option<i64>,
    pub format: Format,
}

impl Reply {
    /// A resource or an operation's result.
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            error_code: None,
            format: Format::Json,
        }
    }

    /// `{"status":"success"}`.
    pub fn success() -> Self {
        Self::ok(json!({"status": "success"}))
    }

    /// An Administrator API error, with HTTP 200.
    pub fn error(e: ApiError) -> Self {
        Self {
            status: StatusCode::OK,
            body: error_body(&e),
            error_code: Some(e.code),
            format: Format::Json,
        }
    }

    /// An answer outside the ArcGIS API (control calls, unknown paths,
    /// oversized bodies): this HTTP status and JSON body.
    pub fn plain(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            error_code: None,
            format: Format::Json,
        }
    }

    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub fn into_response(self) -> Response {
        let (content_type, text) = match self.format {
            Format::Json => ("text/plain;charset=UTF-8", self.body.to_string()),
            Format::Pjson => (
                "text/plain;charset=UTF-8",
                serde_json::to_string_pretty(&self.body).unwrap_or_default(),
            ),
            Format::Html => (
                "text/html;charset=UTF-8",
                html_page(&serde_json::to_string_pretty(&self.body).unwrap_or_default()),
            ),
        };
        let mut resp = (self.status, text).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    }
}

/// `{"status":"error","messages":[...],"code":N}`.
pub fn error_body(e: &ApiError) -> Value {
    json!({"status": "error", "messages": e.messages, "code": e.code})
}

/// A minimal page around a JSON text.
fn html_page(json_text: &str) -> String {
    let escaped = json_text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><title>ArcGIS emulator</title></head>\
         <body><pre>{escaped}</pre></body></html>\n"
    )
}
