//! Fuzz target: the `known_hosts` text of a git Secret, as
//! `source::known_hosts::KnownHosts` parses it and answers host key checks.
//!
//! Checks, besides no panic: every host and key the text itself names can
//! be asked about (plain, bracketed `[host]:port`, comma lists); a key
//! revoked for a host is never accepted for it, whatever else the text
//! says; and a valid line put in front of a text without `@revoked` is
//! accepted.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use sitehapair::source::known_hosts::KnownHosts;

/// (host, port) for one known_hosts pattern, as a caller would ask.
fn probe(pattern: &str) -> (String, Option<u16>) {
    if let Some(rest) = pattern.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
    {
        return (host.to_string(), port.parse().ok());
    }
    (pattern.to_string(), None)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let known = KnownHosts::parse(&text);

    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        if first.starts_with('@') {
            let Some(f) = fields.next() else { continue };
            first = f;
        }
        let key = fields
            .nth(1)
            .and_then(|b| STANDARD.decode(b).ok())
            .unwrap_or_default();
        for pattern in first.split(',') {
            let (host, port) = probe(pattern);
            let _ = known.accepts(&host, port, &key);
            // Revoking it afterwards wins over any line that accepted it.
            if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ',') {
                continue;
            }
            let name = match port {
                None => host.clone(),
                Some(p) => format!("[{host}]:{p}"),
            };
            let revoked = format!(
                "{text}\n@revoked {name} ssh-ed25519 {}\n",
                STANDARD.encode(&key)
            );
            assert!(
                !KnownHosts::parse(&revoked).accepts(&host, port, &key),
                "a revoked key for {name} is accepted"
            );
        }
    }

    if !text.contains("@revoked") {
        // Never empty: an empty key has no base64 field, so no line.
        let key = [b"k", data.get(..16).unwrap_or(data)].concat();
        let with = format!(
            "probe.invalid ssh-ed25519 {}\n{text}",
            STANDARD.encode(&key)
        );
        let k = KnownHosts::parse(&with);
        assert!(k.accepts("probe.invalid", None, &key));
        assert!(k.accepts("probe.invalid", Some(22), &key));
    }
});
