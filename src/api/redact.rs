//! Git URLs as they may be shown: without the user info (credentials
//! belong in the Secret, and never reach status, Events or logs).

/// The URL with any `user:password@` removed, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn user_info_is_dropped() {
        assert_eq!(
            redact_url("https://bob:hunter2@git.example.com/gis/services.git"),
            "https://git.example.com/gis/services.git"
        );
        assert_eq!(redact_url("file:///srv/repo"), "file:///srv/repo");
    }
}
