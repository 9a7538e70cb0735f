//! The fuzzers' short pass for CI (no control plane needed): every
//! committed seed and every shrunk crash input under fuzz/corpus goes
//! through the same parsers the fuzz targets drive, with the same bounds
//! checked: no panic, site text within MAX_MESSAGE, a rejected input an
//! error. The coverage-guided runs are `scripts/fuzz.sh [RUNS]` (nightly,
//! libFuzzer); this replays what they keep.

use sitehapair::sites::http::{
    MAX_MESSAGE, decode_health, decode_info, decode_mode, decode_services, status_error,
};
use sitehapair::source::files::parse_service_file;
use sitehapair::source::known_hosts::KnownHosts;
use sitehapair::source::webhook::{parse_push, verify};

use crate::support::repo_root;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("fuzz/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read seed"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

#[test]
fn every_kept_fuzz_input_replays_clean_through_the_parsers() {
    let mut count = 0;
    for (name, data) in seeds("service_file") {
        let text = String::from_utf8_lossy(&data);
        for rel in ["svc.yaml", "svc.json"] {
            let parsed = parse_service_file(rel, &text);
            if name.starts_with("regress-deep") {
                assert!(parsed.is_err(), "{name}: a too deep file was accepted");
            }
        }
        count += 1;
    }
    for (_, data) in seeds("site_answer") {
        let body = String::from_utf8_lossy(&data);
        for status in [200, 201, 204, 400, 401, 404, 409, 500, 503] {
            let _ = decode_health("s", "GET /health", status, &body);
            let _ = decode_info("s", status, &body);
            let _ = decode_mode("s", "GET /mode", status, &body);
            let _ = decode_services("s", status, &body);
            let e = status_error("s", "GET /x", status, &body).to_string();
            let prefix = "site s: GET /x: HTTP 500: ".len();
            assert!(e.chars().count() <= prefix + MAX_MESSAGE, "{e}");
        }
        count += 1;
    }
    for (_, data) in seeds("webhook") {
        // The fuzz target's layout: three header lines, then the body.
        let mut parts = data.splitn(4, |b| *b == b'\n');
        let secret = parts.next().unwrap_or_default();
        let sig = parts
            .next()
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let token = parts
            .next()
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let body = parts.next().unwrap_or_default();
        let _ = verify(secret, body, sig.as_deref(), token.as_deref());
        assert!(
            !verify(b"", body, sig.as_deref(), token.as_deref()),
            "an empty secret accepted a hook"
        );
        let _ = parse_push(body);
        count += 1;
    }
    for (_, data) in seeds("known_hosts") {
        let hosts = KnownHosts::parse(&String::from_utf8_lossy(&data));
        let _ = hosts.accepts("git.example.com", None, b"key");
        count += 1;
    }
    println!("fuzz corpus replay: {count} inputs, 4 targets");
}
