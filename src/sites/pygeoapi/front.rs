//! The credentials of the front that guards a pygeoapi site. pygeoapi's
//! admin API has no authentication of its own (it leaves access control
//! to a proxy in front), so the operator authenticates to that front:
//! HTTP basic with a username and password, or a bearer token. Neither is
//! ever shown by `Debug`.

use std::fmt;

/// How the operator authenticates to a site's front.
#[derive(Clone)]
pub enum Front {
    Basic { username: String, password: String },
    Bearer(String),
}

impl Front {
    pub fn basic(username: &str, password: &str) -> Self {
        Front::Basic {
            username: username.trim().to_string(),
            password: password.trim_end_matches(['\r', '\n']).to_string(),
        }
    }

    pub fn bearer(token: &str) -> Self {
        Front::Bearer(token.trim().to_string())
    }

    /// `req` with the front's `Authorization` header.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Front::Basic { username, password } => req.basic_auth(username, Some(password)),
            Front::Bearer(token) => req.bearer_auth(token),
        }
    }

    /// The parts a driver cache is keyed by (no secret leaves as text: the
    /// caller hashes them).
    pub fn key_parts(&self) -> [&str; 3] {
        match self {
            Front::Basic { username, password } => ["basic", username, password],
            Front::Bearer(token) => ["bearer", token, ""],
        }
    }
}

impl fmt::Debug for Front {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Front::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Front::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_kind_of_credential_shows_in_debug() {
        assert!(!format!("{:?}", Front::basic("admin", "hunter2\n")).contains("hunter2"));
        assert!(!format!("{:?}", Front::bearer("t0ken")).contains("t0ken"));
    }
}
