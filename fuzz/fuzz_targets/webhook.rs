//! Fuzz target: a webhook request as `controller::webhook` reads it, the
//! signature check (`source::webhook::verify`) and the push payload
//! (`parse_push`, `normalize_repo_url`).
//!
//! Input: three lines, then the body: the Secret's value, the
//! `X-Hub-Signature-256` header, the `X-Gitlab-Token` header (an empty line
//! is an absent header), and the request body.
//!
//! Checks, besides no panic: `verify` agrees with an independent reading of
//! each header (the hub header is `sha256=` and the hex HMAC-SHA256 of the
//! body, the GitLab token equals the secret; an empty secret accepts
//! nothing), a body signed with the secret is accepted; a push names at
//! least one repository, each once, and never both a branch and a tag; and
//! every way a forge writes one repository's URL (https with or without
//! `.git`, user and port, ssh, scp form, upper case) normalizes to one
//! identity, host and path, for a host and path made from the input.

#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use sitehapair::source::webhook::{MAX_BODY_BYTES, normalize_repo_url, parse_push, verify};

fn mac(secret: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn header(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw).ok().filter(|s| !s.is_empty())
}

/// `len` characters of `alphabet` picked by `bytes` (cycled), at least one.
fn word(bytes: &[u8], len: usize, alphabet: &[u8]) -> String {
    (0..len.max(1))
        .map(|i| {
            let b = bytes.get(i % bytes.len().max(1)).copied().unwrap_or(0) as usize;
            char::from(alphabet[(b + i) % alphabet.len()])
        })
        .collect()
}

/// Every URL form of one repository normalizes to its host and path.
fn check_url_forms(data: &[u8]) {
    const HOST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-";
    const SEGMENT: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
    let n = data.first().copied().unwrap_or(0) as usize;
    let rest = data.get(1..).unwrap_or_default();
    let host = word(rest, 1 + n % 20, HOST);
    let mut segments: Vec<String> = (0..1 + n % 3)
        .map(|i| {
            word(
                rest.get(i * 7..).unwrap_or_default(),
                1 + (n >> 2) % 12 + i,
                SEGMENT,
            )
        })
        .collect();
    // Forges refuse `.`, `..` and a repository name ending in `.git`.
    for s in &mut segments {
        if s.chars().all(|c| c == '.') || s.ends_with(".git") {
            s.insert(0, 'r');
            s.push('x');
        }
    }
    let path = segments.join("/");
    let want = format!("{host}/{path}").to_ascii_lowercase();
    for url in [
        format!("https://{host}/{path}.git"),
        format!("https://{host}/{path}"),
        format!("https://{host}/{path}/"),
        format!("http://user:pw@{host}:8080/{path}.git"),
        format!("ssh://git@{host}:2222/{path}.git"),
        format!("git://{host}/{path}.git"),
        format!("git@{host}:{path}.git"),
        format!(" HTTPS://{}/{path} ", host.to_ascii_uppercase()),
    ] {
        assert_eq!(normalize_repo_url(&url), want, "{url:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (secret_line, rest) = split_line(data);
    let (hub_line, rest) = split_line(rest);
    let (gitlab_line, body) = split_line(rest);
    if body.len() > MAX_BODY_BYTES {
        return;
    }
    // The controller trims the Secret's value.
    let Ok(secret) = std::str::from_utf8(secret_line) else {
        return;
    };
    let secret = secret.trim().as_bytes();
    let hub = header(hub_line);
    let gitlab = header(gitlab_line);
    let expected = mac(secret, body);

    let hub_ok = |h: &str| {
        h.trim()
            .strip_prefix("sha256=")
            .and_then(|x| hex::decode(x).ok())
            .is_some_and(|d| d == expected)
    };
    let want = !secret.is_empty()
        && match (hub, gitlab) {
            (Some(h), _) => hub_ok(h),
            (None, Some(t)) => t.as_bytes() == secret,
            (None, None) => false,
        };
    assert_eq!(verify(secret, body, hub, gitlab), want, "verify disagrees");
    let signed = format!("sha256={}", hex::encode(&expected));
    assert_eq!(
        verify(secret, body, Some(&signed), None),
        !secret.is_empty()
    );
    assert_eq!(
        verify(
            secret,
            body,
            Some(&signed.to_uppercase().replace("SHA256=", "sha256=")),
            None
        ),
        !secret.is_empty(),
        "hex case matters"
    );

    if let Some(push) = parse_push(body) {
        assert!(!push.repositories.is_empty());
        for (i, r) in push.repositories.iter().enumerate() {
            assert!(!r.is_empty());
            assert!(!push.repositories[..i].contains(r), "{r:?} twice");
        }
        assert!(push.branch.is_none() || push.tag.is_none());
    }
    for line in String::from_utf8_lossy(body).lines().take(64) {
        let _ = normalize_repo_url(line);
    }
    check_url_forms(data);
});
