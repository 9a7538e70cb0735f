//! Fuzz target: a site's answer (status and body) as the HTTP driver
//! decodes it (`sites::http::decode_*` and `status_error`): `/health`,
//! `/info`, `/mode`, `/services` and the error body of any call. The body is
//! the bytes read, turned into text lossily as the driver does.
//!
//! Checks, besides no panic: site text kept in an error is at most
//! `MAX_MESSAGE` characters; an answer is never taken for silence (no error
//! says the site is unreachable); health is 2xx true, 503 false; a decoded
//! `/mode`, `/info` or `/services` answer encodes and decodes to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sitehapair::api::SiteContact;
use sitehapair::sites::SiteError;
use sitehapair::sites::http::{
    MAX_MESSAGE, decode_health, decode_info, decode_mode, decode_services, status_error,
};

/// The statuses tried for every body: successes, the contract's errors,
/// and one the contract does not name.
const STATUSES: [u16; 9] = [200, 201, 204, 400, 401, 404, 409, 500, 503];

fn check_error(e: &SiteError) {
    assert_ne!(
        e.contact(),
        SiteContact::NoAnswer,
        "an answer taken for silence: {e}"
    );
    match e {
        SiteError::Fenced { message, .. }
        | SiteError::Status { message, .. }
        | SiteError::Decode { message, .. } => {
            let n = message.chars().count();
            assert!(
                n <= MAX_MESSAGE,
                "{n} characters of site text kept: {message:?}"
            );
        }
        SiteError::Unauthorized { .. } => {}
        other => panic!("not an error an answer can give: {other}"),
    }
}

fn check<T>(r: Result<T, SiteError>) -> Option<T> {
    r.map_err(|e| check_error(&e)).ok()
}

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    for status in STATUSES {
        let success = (200..300).contains(&status);
        match decode_health("fuzz", "GET /health", status, &body) {
            Ok(healthy) => assert!(healthy == success && (success || status == 503)),
            Err(e) => {
                assert!(!success && status != 503);
                check_error(&e);
            }
        }
        check_error(&status_error("fuzz", "PUT /services/a", status, &body));

        let info = check(decode_info("fuzz", status, &body));
        let mode = check(decode_mode("fuzz", "GET /mode", status, &body));
        let services = check(decode_services("fuzz", status, &body));
        if !success {
            assert!(info.is_none() && mode.is_none() && services.is_none());
            continue;
        }
        if let Some(info) = info {
            let again = serde_json::to_string(&info).expect("serializes");
            assert_eq!(decode_info("fuzz", 200, &again).ok(), Some(info));
        }
        if let Some(mode) = mode {
            let again = serde_json::to_string(&mode).expect("serializes");
            assert_eq!(
                decode_mode("fuzz", "PUT /mode", 200, &again).ok(),
                Some(mode)
            );
        }
        if let Some(services) = services {
            let again = json!({ "services": services }).to_string();
            let decoded = decode_services("fuzz", 200, &again)
                .unwrap_or_else(|e| panic!("a decoded answer does not decode again: {e}"));
            assert_eq!(decoded, services);
        }
    }
});
