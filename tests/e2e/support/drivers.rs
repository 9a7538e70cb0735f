//! Asking a site directly, past the operator, with the operator's own HTTP
//! driver: a driver for a reference site, a runtime to run its calls on,
//! and what a site says of its mode right now.

use std::time::Duration;

use sitehapair::sites::http::{HttpSite, Token};
use sitehapair::sites::{Mode, Site};

use super::site::ReferenceSite;

/// A current-thread runtime for a test's calls to sites.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The HTTP driver for `site` with `token`, each call given `timeout`.
pub fn driver(site: &ReferenceSite, token: &str, timeout: Duration) -> HttpSite {
    driver_at(&site.name, &site.url, token, timeout)
}

fn driver_at(name: &str, url: &str, token: &str, timeout: Duration) -> HttpSite {
    HttpSite::new(name, url, Token::new(token), None, timeout).expect("driver")
}

/// What a site says of its mode right now (None: no answer).
pub fn mode_of(site: &ReferenceSite, token: &str) -> Option<(Mode, i64)> {
    mode_at(&site.name, &site.url, token)
}

/// What the site `name` at `url` says of its mode (None: no answer).
pub fn mode_at(name: &str, url: &str, token: &str) -> Option<(Mode, i64)> {
    let d = driver_at(name, url, token, Duration::from_secs(2));
    runtime().block_on(d.mode()).ok().map(|m| (m.mode, m.epoch))
}
