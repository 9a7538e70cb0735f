//! The git webhook, pure parts: the signature check (GitHub and Gitea
//! `X-Hub-Signature-256` HMAC-SHA256, GitLab `X-Gitlab-Token`), both in
//! constant time, and reading which repository and branch a push names.
//! The payload is only a hint to refresh: nothing in it is trusted beyond that.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Does the request carry a valid signature for `body` under `secret`?
/// `hub_signature` is the `X-Hub-Signature-256` header (`sha256=<hex>`),
/// `gitlab_token` the `X-Gitlab-Token` header.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    hub_signature: Option<&str>,
    gitlab_token: Option<&str>,
) -> bool {
    if secret.is_empty() {
        return false;
    }
    if let Some(sig) = hub_signature {
        let Some(hex_sig) = sig.trim().strip_prefix("sha256=") else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(body);
        // verify_slice compares in constant time.
        return mac.verify_slice(&expected).is_ok();
    }
    if let Some(token) = gitlab_token {
        return constant_time_eq(token.as_bytes(), secret);
    }
    false
}

/// Compare without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// What a push names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Normalized repository identities (see [`normalize_repo_url`]).
    pub repositories: Vec<String>,
    /// The pushed branch, when the ref is a branch.
    pub branch: Option<String>,
    /// The pushed tag, when the ref is a tag.
    pub tag: Option<String>,
}

/// Read the repository URLs and the ref of a GitHub, Gitea or GitLab push.
pub fn parse_push(body: &[u8]) -> Option<Push> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut urls = Vec::new();
    for obj in [v.get("repository"), v.get("project")]
        .into_iter()
        .flatten()
    {
        for field in [
            "clone_url",
            "ssh_url",
            "git_url",
            "html_url",
            "url",
            "git_http_url",
            "git_ssh_url",
            "http_url",
            "web_url",
        ] {
            if let Some(u) = obj.get(field).and_then(Value::as_str) {
                let n = normalize_repo_url(u);
                if !n.is_empty() && !urls.contains(&n) {
                    urls.push(n);
                }
            }
        }
    }
    if urls.is_empty() {
        return None;
    }
    let r = v.get("ref").and_then(Value::as_str).unwrap_or_default();
    Some(Push {
        repositories: urls,
        branch: r.strip_prefix("refs/heads/").map(str::to_string),
        tag: r.strip_prefix("refs/tags/").map(str::to_string),
    })
}

/// A repository's identity for matching: host and path, lower-case, without
/// scheme, user, port, `.git` or trailing slash. `git@host:path` (scp form)
/// becomes `host/path`.
pub fn normalize_repo_url(url: &str) -> String {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        None => match url.split_once(':') {
            // scp-like: user@host:path
            Some((host, path)) if !host.contains('/') => format!("{host}/{path}"),
            _ => url.to_string(),
        },
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest.as_str(), ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{host}{path}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn hub_signature_is_checked() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = sign(b"s3", body);
        assert!(verify(b"s3", body, Some(&good), None));
        assert!(!verify(b"other", body, Some(&good), None));
        assert!(!verify(b"s3", b"tampered", Some(&good), None));
        assert!(!verify(b"s3", body, Some("sha256=zz"), None));
        assert!(!verify(b"s3", body, None, None));
        assert!(!verify(b"", body, Some(&sign(b"", body)), None));
    }

    #[test]
    fn gitlab_token_is_checked() {
        assert!(verify(b"tok", b"{}", None, Some("tok")));
        assert!(!verify(b"tok", b"{}", None, Some("to")));
        assert!(!verify(b"tok", b"{}", None, Some("tok2")));
    }

    #[test]
    fn urls_normalize_to_one_identity() {
        let want = "git.example.com/gis/services";
        for u in [
            "https://git.example.com/gis/services.git",
            "https://bob:pw@git.example.com/gis/services/",
            "ssh://git@git.example.com:2222/gis/services.git",
            "git@git.example.com:gis/services.git",
            "HTTP://Git.Example.com/GIS/services",
        ] {
            assert_eq!(normalize_repo_url(u), want, "{u}");
        }
    }

    #[test]
    fn github_and_gitlab_pushes_are_read() {
        let gh = br#"{"ref":"refs/heads/main","repository":{"clone_url":"https://h/o/r.git","ssh_url":"git@h:o/r.git"}}"#;
        let p = parse_push(gh).expect("push");
        assert_eq!(p.repositories, ["h/o/r"]);
        assert_eq!(p.branch.as_deref(), Some("main"));
        let gl = br#"{"ref":"refs/tags/v1","project":{"git_http_url":"https://h/o/r.git"}}"#;
        let p = parse_push(gl).expect("push");
        assert_eq!(p.tag.as_deref(), Some("v1"));
        assert!(parse_push(b"not json").is_none());
        assert!(parse_push(b"{}").is_none());
    }
}
