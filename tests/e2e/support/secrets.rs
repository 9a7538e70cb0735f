//! Secrets the tests give the operator: created once (`create_secret`,
//! and the usual sites' `token_secrets`), or created or replaced
//! (`put_secret`, for a rotation).

use serde_json::json;

use super::{Namespace, stderr};

/// Create the Secret `name` with these string keys (`kubectl create secret
/// generic --from-literal`); panics when it fails, as when it exists.
pub fn create_secret(ns: &Namespace, name: &str, data: &[(&str, &str)]) {
    let literals: Vec<String> = data
        .iter()
        .map(|(k, v)| format!("--from-literal={k}={v}"))
        .collect();
    let mut args = vec!["create", "secret", "generic", name];
    args.extend(literals.iter().map(String::as_str));
    ns.kubectl(&args);
}

/// Create or replace the Secret `name` with these string keys (`kubectl
/// apply`); panics when it fails.
pub fn put_secret(ns: &Namespace, name: &str, data: &[(&str, &str)]) {
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "stringData": data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    let out = ns.apply(&secret.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The token Secrets `east-admin` and `west-admin` of the two usual sites.
pub fn token_secrets(ns: &Namespace) {
    for (site, token) in [("east", "east-token-1"), ("west", "west-token-2")] {
        create_secret(ns, &format!("{site}-admin"), &[("token", token)]);
    }
}
