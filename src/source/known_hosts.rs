//! ssh host key checking against the known_hosts text of a Secret (libgit2
//! leaves the check to the caller). Plain host patterns, comma lists and
//! `[host]:port` are understood; hashed entries and `@cert-authority` lines
//! are not, and `@revoked` keys are always refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// One accepted (or revoked) key for a list of host patterns.
#[derive(Debug, Clone)]
struct Entry {
    patterns: Vec<String>,
    key: Vec<u8>,
    revoked: bool,
}

/// The parsed known_hosts text.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Parse known_hosts lines; lines that cannot be read are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if first.starts_with('@') {
                if first != "@revoked" {
                    continue;
                }
                revoked = true;
                first = fields.next().unwrap_or_default();
            }
            let (Some(_type), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = STANDARD.decode(b64) else {
                continue;
            };
            entries.push(Entry {
                patterns: first.split(',').map(str::to_string).collect(),
                key,
                revoked,
            });
        }
        Self { entries }
    }

    /// Is `key` (the raw public key blob) known for `host` on `port`?
    pub fn accepts(&self, host: &str, port: Option<u16>, key: &[u8]) -> bool {
        let names = match port {
            None | Some(22) => vec![host.to_string(), format!("[{host}]:22")],
            Some(p) => vec![format!("[{host}]:{p}")],
        };
        let matches = |e: &Entry| e.patterns.iter().any(|p| names.iter().any(|n| n == p));
        if self
            .entries
            .iter()
            .any(|e| e.revoked && e.key == key && matches(e))
        {
            return false;
        }
        self.entries
            .iter()
            .any(|e| !e.revoked && e.key == key && matches(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn plain_and_bracketed_hosts_match() {
        let text = format!(
            "# comment\nexample.com,10.0.0.1 ssh-ed25519 {}\n[127.0.0.1]:2222 ssh-ed25519 {}\n",
            b64(b"key-a"),
            b64(b"key-b")
        );
        let k = KnownHosts::parse(&text);
        assert!(k.accepts("example.com", None, b"key-a"));
        assert!(k.accepts("10.0.0.1", Some(22), b"key-a"));
        assert!(k.accepts("127.0.0.1", Some(2222), b"key-b"));
        assert!(!k.accepts("127.0.0.1", Some(2222), b"key-a"));
        assert!(!k.accepts("127.0.0.1", None, b"key-b"));
        assert!(!k.accepts("other.com", None, b"key-a"));
    }

    #[test]
    fn revoked_keys_are_refused() {
        let text = format!(
            "h ssh-ed25519 {k}\n@revoked h ssh-ed25519 {k}\n",
            k = b64(b"key")
        );
        assert!(!KnownHosts::parse(&text).accepts("h", None, b"key"));
    }
}
