//! The operator's git webhook as the tests drive it: the Secret it checks
//! signatures with, an operator started with it beside a git HTTP server,
//! GitHub's push body, and a signed POST.

use std::process::Command;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::git::GitHttp;
use super::secrets::create_secret;
use super::syncbed::SyncBed;

/// The Secret (name) the operator reads the webhook's key from.
pub const SECRET_NAME: &str = "git-hook";
/// The webhook's key.
pub const KEY: &str = "hook-s3cret";

/// GitHub's `X-Hub-Signature-256` of `body` under `key`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST a webhook to the operator; returns the HTTP status.
pub fn post_hook(port: u16, body: &str, signature: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-GitHub-Event: push",
        ])
        .args(["-H", &format!("X-Hub-Signature-256: {signature}")])
        .args(["--data-binary", body])
        .arg(format!("http://127.0.0.1:{port}/hooks/git"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The push GitHub sends for `main` of the repository at `clone_url`.
pub fn push_body(clone_url: &str) -> String {
    json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": clone_url, "full_name": "gis/services"}
    })
    .to_string()
}

/// The operator flags that make it take the webhook with the key in `ns`.
pub fn operator_flags(ns: &str) -> [&str; 4] {
    [
        "--webhook-secret",
        SECRET_NAME,
        "--webhook-secret-namespace",
        ns,
    ]
}

/// Serve the bed's repository over git HTTP, put the webhook's key in a
/// Secret and start the operator with it.
pub fn start_with_webhook(bed: &mut SyncBed) -> GitHttp {
    let git = GitHttp::start(bed.dir.path(), "", "");
    create_secret(&bed.ns, SECRET_NAME, &[("token", KEY)]);
    let ns = bed.ns.name.clone();
    bed.start_operator(&operator_flags(&ns));
    git
}
