//! What may be shown: git URLs without the user info (credentials belong in
//! the Secret, and never reach status, Events or logs), and which keys hold
//! secrets (their values are masked in diffs and in site error text).

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

/// Words that mark a key as holding a secret.
pub const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "token",
    "secret",
    "key",
    "credential",
    "apikey",
];

/// Does a key name look like it holds a secret?
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|s| k.contains(s))
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
