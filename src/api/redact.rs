//! What may be shown: git URLs without the user info (credentials belong in
//! the Secret, and never reach status, Events or logs), which keys hold
//! secrets (their values are masked in diffs and in site error text), and
//! text from elsewhere (sites, hooks) trimmed to one short line with its
//! secret-looking values masked. Pure text helpers, used by `plan`,
//! `sites` and `controller` alike.

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

/// Longest site-provided text kept in an error (it reaches status and Events).
pub const MAX_MESSAGE: usize = 200;

/// At most `max` characters of `s` (trimmed), the mark `…` included when cut.
/// Control characters (newlines, terminal escapes) become spaces: site
/// text reaches status, Events and log lines on one line, inert.
pub fn trim(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = clean.trim();
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) if max == 0 => String::new(),
        Some(_) => {
            // Cut before the (max-1)th character so the mark fits in `max`.
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..cut])
        }
    }
}

/// `text` with the string value of every secret-looking JSON key replaced
/// by `***`, in plain (`"password": "x"`) and escaped (`\"password\":
/// \"x\"`) form: a site that echoes a service definition in an error does
/// not carry its passwords into status, Events or logs. A value that does
/// not end is masked to the end of the text.
pub fn mask_secret_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(c) = text[i..].find(':') {
        let colon = i + c;
        match secret_value_after(text, colon) {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str("***");
                copied = end;
                i = end;
            }
            None => i = colon + 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The byte range of the string value after the colon at `colon`, when the
/// quoted key before the colon looks secret.
fn secret_value_after(text: &str, colon: usize) -> Option<(usize, usize)> {
    let before = text[..colon].trim_end();
    let before = before.strip_suffix('"')?;
    let before = before.strip_suffix('\\').unwrap_or(before);
    let open = before.rfind('"')?;
    let key = before[open + 1..].to_ascii_lowercase();
    if key.len() > 64 || !is_secret_key(&key) {
        return None;
    }
    let after = &text[colon + 1..];
    let value = after.trim_start();
    let offset = colon + 1 + (after.len() - value.len());
    if let Some(v) = value.strip_prefix("\\\"") {
        let start = offset + 2;
        let end = v.find("\\\"").map_or(text.len(), |e| start + e);
        return Some((start, end));
    }
    let v = value.strip_prefix('"')?;
    let start = offset + 1;
    let bytes = v.as_bytes();
    let end = (0..bytes.len())
        .find(|&j| bytes[j] == b'"' && (j == 0 || bytes[j - 1] != b'\\'))
        .map_or(text.len(), |e| start + e);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_dropped() {
        assert_eq!(
            redact_url("https://bob:hunter2@git.example.com/gis/services.git"),
            "https://git.example.com/gis/services.git"
        );
        assert_eq!(redact_url("file:///srv/repo"), "file:///srv/repo");
    }

    #[test]
    fn trimmed_text_with_its_mark_fits_the_limit() {
        assert_eq!(trim("abcdef", 6), "abcdef");
        assert_eq!(trim("abcdefg", 6), "abcde…");
        assert_eq!(trim("ééééééé", 3), "éé…");
        assert_eq!(trim("abc", 0), "");
        assert_eq!(trim("", 0), "");
        let long = "y".repeat(MAX_MESSAGE + 1);
        assert_eq!(trim(&long, MAX_MESSAGE).chars().count(), MAX_MESSAGE);
    }

    #[test]
    fn secret_looking_values_in_site_text_are_masked() {
        let plain = r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "hunter2"}, "apiToken":"abc"}"#;
        assert_eq!(
            mask_secret_values(plain),
            r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "***"}, "apiToken":"***"}"#
        );
        let escaped = r#"{"error": "bad {\"secretKey\":\"s3\",\"url\":\"http://x\"}"}"#;
        assert_eq!(
            mask_secret_values(escaped),
            r#"{"error": "bad {\"secretKey\":\"***\",\"url\":\"http://x\"}"}"#
        );
        // An escaped quote inside the value, a value cut short, text that only looks alike.
        assert_eq!(
            mask_secret_values(r#""password": "a\"b", "x": "y""#),
            r#""password": "***", "x": "y""#
        );
        assert_eq!(
            mask_secret_values(r#"é "token": "never ends"#),
            r#"é "token": "***"#
        );
        let untouched =
            r#"the password is wrong: "user": "gis", token: plain, "url": "http://h:1""#;
        assert_eq!(mask_secret_values(untouched), untouched);
    }

    #[test]
    fn control_characters_in_site_text_become_spaces() {
        let t = trim("disk full\n\u{1b}[31mFAKE LOG LINE\r\u{7}", MAX_MESSAGE);
        assert_eq!(t, "disk full  [31mFAKE LOG LINE");
        assert!(!t.chars().any(char::is_control), "{t:?}");
    }
}
