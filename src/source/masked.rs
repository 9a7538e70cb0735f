//! Secret values in service definitions read from a live site, for
//! `sitehapair export`: which values are masked, with what, and the check
//! that a masked value never reaches a site (a file that still holds the
//! placeholder is rejected like a file that does not parse). Pure.
//!
//! The rule (docs/runbook.md, "Adopt two running sites"):
//! - a string value under a key that names a secret is replaced whole: the
//!   key, lowercased without `_` and `-`, contains `password`, `passwd`,
//!   `pwd`, `secret`, `token`, `credential` or `apikey`, or ends in `key`
//!   (`sharedKey`, `privateKey`; not `keyField` or `keywords`);
//! - in any other string, the password of a URL (`scheme://user:PASSWORD@`)
//!   and the value of a `NAME=VALUE` part of a connection string (parts
//!   split by `;`) whose NAME names a secret by the same rule
//!   (`ENCRYPTED_PASSWORD=...;`) are replaced;
//! - numbers, booleans and empty strings are kept (a timeout or a flag
//!   under a secret-looking key is no secret), and so are the strings
//!   `true` and `false`, and, under a name that only says `token` or ends
//!   in `key`, strings that are numbers (ArcGIS writes its settings as
//!   strings: `"tokenExpiration": "60"`).
//!
//! The replacement is [`PLACEHOLDER`]; a person (or their pipeline) puts
//! the value back before the folder is applied.

use serde_json::Value;

/// What a masked value is replaced with.
pub const PLACEHOLDER: &str = "SITEHAPAIR-MASKED";

/// How surely a key names a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    /// Not a secret's name.
    No,
    /// `token`, or ending in `key`: also the name of settings.
    Weak,
    /// `password`, `passwd`, `pwd`, `secret`, `credential`, `apikey`.
    Strong,
}

/// How surely this key names a secret (the export's rule).
pub fn secret_name(key: &str) -> SecretName {
    let k: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    const STRONG: [&str; 6] = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "credential",
        "apikey",
    ];
    if STRONG.iter().any(|w| k.contains(w)) {
        SecretName::Strong
    } else if k.contains("token") || k.ends_with("key") {
        SecretName::Weak
    } else {
        SecretName::No
    }
}

/// Is the string `value` under `key` masked?
fn masks(key: &str, value: &str) -> bool {
    let flag = value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false");
    let number = value.trim().parse::<f64>().is_ok();
    match secret_name(key) {
        _ if value.is_empty() || flag || value == PLACEHOLDER => false,
        SecretName::Strong => true,
        SecretName::Weak => !number,
        SecretName::No => false,
    }
}

/// `definition` with its secret values masked, and the JSON pointers
/// (`/connection/password`) of the values masked.
pub fn mask(definition: &Value) -> (Value, Vec<String>) {
    let mut out = definition.clone();
    let mut paths = Vec::new();
    walk(&mut out, "", &mut paths);
    (out, paths)
}

fn walk(v: &mut Value, at: &str, paths: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match child {
                    Value::String(s) if masks(k, s) => {
                        *s = PLACEHOLDER.to_string();
                        paths.push(here);
                    }
                    // Already masked (a re-export): named again.
                    Value::String(s) if s == PLACEHOLDER => paths.push(here),
                    _ => walk(child, &here, paths),
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                walk(child, &format!("{at}/{i}"), paths);
            }
        }
        Value::String(s) => {
            let masked = mask_embedded(s);
            if masked != *s {
                *s = masked;
                paths.push(at.to_string());
            }
        }
        _ => {}
    }
}

/// A string with the password of a URL and the secret parts of a
/// connection string replaced.
pub fn mask_embedded(s: &str) -> String {
    let s = mask_url_password(s);
    if !s.contains('=') {
        return s;
    }
    s.split(';')
        .map(|part| match part.split_once('=') {
            Some((name, value)) if masks(name.trim(), value) => {
                format!("{name}={PLACEHOLDER}")
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// `scheme://user:password@host` with the password replaced.
fn mask_url_password(s: &str) -> String {
    let Some(i) = s.find("://") else {
        return s.to_string();
    };
    let rest = &s[i + 3..];
    let authority_end = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return s.to_string();
    };
    if colon + 1 == at {
        return s.to_string();
    }
    let start = i + 3 + colon + 1;
    let end = i + 3 + at;
    format!("{}{PLACEHOLDER}{}", &s[..start], &s[end..])
}

/// The JSON pointer of the first value that still holds the placeholder.
pub fn find_placeholder(v: &Value) -> Option<String> {
    fn go(v: &Value, at: String) -> Option<String> {
        match v {
            Value::String(s) if s.contains(PLACEHOLDER) => Some(at),
            Value::Object(m) => m.iter().find_map(|(k, c)| {
                go(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, c)| go(c, format!("{at}/{i}"))),
            _ => None,
        }
    }
    go(v, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_under_secret_names_are_masked_whole_and_their_paths_named() {
        let def = json!({
            "name": "roads",
            "connection": {"user": "gis", "password": "pw-1", "sharedKey": "k-2"},
            "auth": [{"api_token": "t-3"}, {"client-secret": "s-4"}],
            "PWD": "p-5",
            "pin": {"password": "123456"},
        });
        let (out, paths) = mask(&def);
        assert_eq!(out["connection"]["password"], PLACEHOLDER);
        assert_eq!(out["connection"]["sharedKey"], PLACEHOLDER);
        assert_eq!(out["auth"][0]["api_token"], PLACEHOLDER);
        assert_eq!(out["auth"][1]["client-secret"], PLACEHOLDER);
        assert_eq!(out["PWD"], PLACEHOLDER);
        assert_eq!(
            out["pin"]["password"], PLACEHOLDER,
            "a number under a password is masked"
        );
        assert_eq!(out["connection"]["user"], "gis");
        assert_eq!(
            paths,
            [
                "/PWD",
                "/auth/0/api_token",
                "/auth/1/client-secret",
                "/connection/password",
                "/connection/sharedKey",
                "/pin/password"
            ]
        );
    }

    #[test]
    fn names_that_only_look_like_keys_and_non_strings_are_kept() {
        let def = json!({
            "keyField": "OBJECTID", "keywords": "roads", "monkeyBusiness": "x",
            "tokenExpiration": 60, "password": "", "useToken": true,
            "properties": {"tokenExpiration": "60", "useToken": "true", "maxKey": "2.5", "passwordRequired": "false"},
        });
        let (out, paths) = mask(&def);
        // monkeyBusiness does not end in "key"; keyField and keywords neither.
        assert_eq!(out, def);
        assert!(paths.is_empty(), "{paths:?}");
    }

    #[test]
    fn passwords_inside_urls_and_connection_strings_are_masked() {
        let def = json!({
            "url": "postgres://gis:hunter2@db.example:5432/roads",
            "plain": "https://example.com/a:b@c",
            "conn": "SERVER=db;INSTANCE=sde:postgresql:db;USER=gis;ENCRYPTED_PASSWORD=00022e68;DATABASE=roads",
            "odbc": "Driver=x;Uid=gis;Pwd=secret9;",
        });
        let (out, paths) = mask(&def);
        assert_eq!(
            out["url"],
            format!("postgres://gis:{PLACEHOLDER}@db.example:5432/roads")
        );
        assert_eq!(
            out["plain"], def["plain"],
            "an @ after the path is no user info"
        );
        assert_eq!(
            out["conn"],
            format!(
                "SERVER=db;INSTANCE=sde:postgresql:db;USER=gis;ENCRYPTED_PASSWORD={PLACEHOLDER};DATABASE=roads"
            )
        );
        assert_eq!(out["odbc"], format!("Driver=x;Uid=gis;Pwd={PLACEHOLDER};"));
        assert_eq!(paths, ["/conn", "/odbc", "/url"]);
        assert!(!out.to_string().contains("hunter2"));
        assert!(!out.to_string().contains("secret9"));
        assert!(!out.to_string().contains("00022e68"));
    }

    #[test]
    fn a_placeholder_left_in_a_definition_is_found_by_its_path() {
        let (out, _) = mask(&json!({"a": [{"b": "x"}, {"token": "t"}]}));
        assert_eq!(find_placeholder(&out).as_deref(), Some("/a/1/token"));
        assert_eq!(find_placeholder(&json!({"a": "b"})), None);
    }
}
