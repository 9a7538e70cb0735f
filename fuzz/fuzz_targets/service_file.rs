//! Fuzz target: the text of one service file as read from the git folder,
//! parsed both as YAML (`svc.yaml`) and as JSON (`svc.json`), as
//! `source::files::parse_service_file` does for `read_services`.
//!
//! Checks, besides no panic: an accepted file is an object named by its
//! `name` field or else its file stem, the name's line is within the file;
//! and the definition survives the trip the operator makes it take
//! unchanged: written as JSON to a site and read back in a `GET /services`
//! answer (else a site would never look in sync), and parsed again as a
//! `.json` service file (parse, serialize, parse is stable).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sitehapair::sites::http::decode_services;
use sitehapair::source::files::{MAX_FILE_BYTES, check_name, parse_service_file};

fuzz_target!(|data: &[u8]| {
    // read_services reads with read_to_string: other bytes never get here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for rel in ["prod/svc.yaml", "prod/svc.json"] {
        let Ok(file) = parse_service_file(rel, text) else {
            continue;
        };
        let Value::Object(map) = &file.definition else {
            panic!("{rel}: accepted a definition that is not an object");
        };
        match map.get("name") {
            Some(Value::String(n)) => assert_eq!(&file.name, n),
            Some(_) => panic!("{rel}: accepted a name that is not a string"),
            None => assert_eq!(file.name, "svc"),
        }
        assert!(file.name_line >= 1 && file.name_line <= text.lines().count().max(1));
        if check_name(&file.name).is_err() {
            continue;
        }

        // What a site is sent, and what its GET /services answer holds.
        let sent = serde_json::to_string(&file.definition).expect("a Value serializes");
        let answer = json!({ "services": { file.name.clone(): file.definition.clone() } });
        let body = serde_json::to_string(&answer).expect("a Value serializes");
        match decode_services("fuzz", 200, &body) {
            Ok(live) => assert_eq!(
                live.get(&file.name),
                Some(&file.definition),
                "{rel}: the definition changed on its way through a site"
            ),
            Err(e) => panic!("{rel}: accepted from git but unreadable from a site: {e}"),
        }

        // The JSON form, as a service file of its own, is the same service.
        if sent.len() as u64 <= MAX_FILE_BYTES {
            let again = parse_service_file("prod/svc.json", &sent)
                .unwrap_or_else(|e| panic!("{rel}: its JSON form is rejected: {e}"));
            assert_eq!(
                again.definition, file.definition,
                "{rel}: JSON form differs"
            );
            if map.contains_key("name") {
                assert_eq!(again.name, file.name);
            }
        }
    }
});
