//! The client path (`--client-listen ADDR`): what clients of the site use,
//! apart from the admin API, with no token. Any request gets, by the site's
//! mode at that moment: active, 200 and `{"site": NAME, "epoch": N}`; passive,
//! 503 and `{"site": NAME, "mode": "passive"}` (a passive site server
//! refuses work). Every answer names the site and its epoch in the headers
//! `X-Site` and `X-Site-Epoch`, so a client can tell who served it. A
//! stopped process answers nothing. Virtual sites have no client path.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::routes::Site;

/// Answer one client request as `site` is now.
pub async fn answer(site: Arc<Site>) -> Response {
    let (mode, epoch) = {
        let st = site.state.lock().await;
        (st.mode.clone(), st.epoch)
    };
    let (status, body) = if mode == "active" {
        (
            StatusCode::OK,
            serde_json::json!({"site": site.name, "epoch": epoch}),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"site": site.name, "mode": mode}),
        )
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&site.name) {
        headers.insert("x-site", v);
    }
    headers.insert("x-site-epoch", HeaderValue::from(epoch));
    response
}
