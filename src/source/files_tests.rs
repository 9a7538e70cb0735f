//! Tests of service file reading: good files, every way a revision is
//! rejected with file and line, and the fuzzers' regressions.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::files::{FileError, MAX_DEPTH, parse_service_file, read_services};
use crate::sites::http::decode_services;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

#[test]
fn reads_yaml_and_json_named_by_field_or_file() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "prod/roads.yaml",
        "name: roads\ntype: MapServer\nmaxInstances: 4\n",
    );
    write(
        d.path(),
        "prod/parcels.json",
        r#"{"type": "FeatureServer"}"#,
    );
    write(d.path(), "prod/sub/rivers.yml", "type: MapServer\n");
    write(d.path(), "prod/README.md", "not a service");
    write(d.path(), "other/ignored.yaml", "name: elsewhere\n");
    let set = read_services(d.path(), "prod").expect("valid revision");
    assert_eq!(
        set.keys().collect::<Vec<_>>(),
        ["parcels", "rivers", "roads"]
    );
    assert_eq!(
        set["roads"],
        json!({"name": "roads", "type": "MapServer", "maxInstances": 4})
    );
}

#[test]
fn malformed_file_names_file_and_line() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/good.yaml", "name: good\n");
    write(
        d.path(),
        "prod/bad.yaml",
        "name: bad\ntype: [unclosed\nother: 1\n",
    );
    let e = read_services(d.path(), "prod").unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("prod/bad.yaml:"), "{text}");
    assert!(
        matches!(e, FileError::Parse { line, .. } if line >= 2),
        "{text}"
    );

    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "p/x.json",
        "{\n  \"name\": \"x\",\n  \"a\": ,\n}\n",
    );
    let e = read_services(d.path(), "p").unwrap_err();
    assert!(e.to_string().starts_with("p/x.json:3:"), "{e}");
}

#[test]
fn two_files_of_one_name_are_rejected() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "name: roads\n");
    write(d.path(), "prod/b.yaml", "name: roads\n");
    let e = read_services(d.path(), "prod").unwrap_err();
    assert_eq!(
        e.to_string(),
        "prod/b.yaml:1: service \"roads\" is also defined in prod/a.yaml"
    );
}

#[test]
fn names_with_slash_or_dotdot_are_rejected_with_their_line() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "type: x\nname: ../etc\n");
    let e = read_services(d.path(), "prod").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("prod/a.yaml:2: service name \"../etc\""),
        "{e}"
    );
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "name: a/b\n");
    assert!(
        read_services(d.path(), "prod")
            .unwrap_err()
            .to_string()
            .contains("slash")
    );
}

#[test]
fn symlink_out_of_the_repository_is_rejected() {
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "secret.yaml", "name: stolen\n");
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "name: a\n");
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        d.path().join("prod/link.yaml"),
    )
    .expect("symlink");
    let e = read_services(d.path(), "prod").unwrap_err();
    assert_eq!(
        e,
        FileError::SymlinkEscapes {
            file: "prod/link.yaml".into()
        }
    );

    // A link that stays inside is fine.
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "shared/base.yaml", "name: base\n");
    fs::create_dir_all(d.path().join("prod")).expect("mkdir");
    std::os::unix::fs::symlink(
        d.path().join("shared/base.yaml"),
        d.path().join("prod/base.yaml"),
    )
    .expect("symlink");
    assert!(
        read_services(d.path(), "prod")
            .expect("valid")
            .contains_key("base")
    );
}

#[test]
fn a_folder_path_through_a_symlinked_directory_out_of_the_repository_is_rejected() {
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "inner/stolen.yaml", "name: stolen\n");
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "name: a\n");
    std::os::unix::fs::symlink(outside.path(), d.path().join("top")).expect("symlink");
    let e = read_services(d.path(), "top/inner").unwrap_err();
    assert_eq!(
        e,
        FileError::SymlinkEscapes {
            file: "top/inner".into()
        }
    );
    // A symlinked folder that stays inside the repository is followed.
    std::os::unix::fs::symlink(d.path().join("prod"), d.path().join("alias")).expect("symlink");
    assert!(
        read_services(d.path(), "alias")
            .expect("valid")
            .contains_key("a")
    );
}

#[test]
fn oversized_and_non_object_files_are_rejected() {
    let d = tempfile::tempdir().expect("tempdir");
    let big = format!("name: big\nblob: \"{}\"\n", "x".repeat(1024 * 1024));
    write(d.path(), "prod/big.yaml", &big);
    assert!(matches!(
        read_services(d.path(), "prod").unwrap_err(),
        FileError::TooLarge { .. }
    ));
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/list.yaml", "- a\n- b\n");
    assert!(
        read_services(d.path(), "prod")
            .unwrap_err()
            .to_string()
            .contains("found a list")
    );
}

#[test]
fn path_outside_or_missing_is_rejected() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/a.yaml", "name: a\n");
    assert!(matches!(
        read_services(d.path(), "../x").unwrap_err(),
        FileError::NoSuchPath { .. }
    ));
    assert!(matches!(
        read_services(d.path(), "nope").unwrap_err(),
        FileError::NoSuchPath { .. }
    ));
    assert_eq!(read_services(d.path(), ".").expect("root").len(), 1);
}

/// Found by the service_file fuzz target's round-trip check, on a deep input
/// made by hand (kept as fuzz/corpus/service_file/regress-deep-nesting.yaml;
/// the fuzzer alone did not reach that depth in 5 minutes): 126 nested lists
/// were accepted from git, but a site's `GET /services` answer holds a
/// definition two levels deeper, past serde_json's limit of 128, so once
/// stored the site could never be read again.
#[test]
fn regression_fuzz_deep_nesting_is_rejected_before_a_site_stores_it() {
    let nest = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
    assert_eq!(
        parse_service_file("prod/deep.yaml", &nest(126)).unwrap_err(),
        FileError::TooDeep {
            file: "prod/deep.yaml".into()
        }
    );
    // One level past the limit is refused, in JSON too; at the limit the
    // definition is accepted and reads back from a site's answer.
    assert!(matches!(
        parse_service_file("p/x.yaml", &nest(MAX_DEPTH)),
        Err(FileError::TooDeep { .. })
    ));
    let json = format!(
        "{{\"a\": {}{}}}",
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert!(matches!(
        parse_service_file("p/x.json", &json),
        Err(FileError::TooDeep { .. })
    ));
    let ok = parse_service_file("p/ok.yaml", &nest(MAX_DEPTH - 1)).expect("at the limit");
    let answer = json!({"services": {"ok": ok.definition}});
    let body = serde_json::to_string(&answer).expect("json");
    let live = decode_services("s", 200, &body).expect("readable from a site");
    assert_eq!(live["ok"], ok.definition);
}

/// Found by the service_file fuzz target (kept as
/// fuzz/corpus/service_file/regress-float-roundtrip.json): serde_json's
/// default number parsing is not correctly rounded, so this number came
/// back from a site's answer one unit in the last place away, and the
/// service would have been replaced at every sync. Fixed with serde_json's
/// `float_roundtrip` feature.
#[test]
fn regression_fuzz_a_number_reads_back_unchanged_from_a_site() {
    let big = "99999999999999999999999999999999999999999999999999999997991";
    for (rel, text) in [
        ("prod/svc.json", format!("{{\n  \"ndrersion\": {big}\n}}\n")),
        (
            "prod/svc.yaml",
            format!("ndrersion: {big}\nratio: 0.1e-300\n"),
        ),
    ] {
        let f = parse_service_file(rel, &text).expect("valid");
        let body =
            serde_json::to_string(&json!({"services": {"svc": f.definition}})).expect("json");
        let live = decode_services("s", 200, &body).expect("readable from a site");
        assert_eq!(live["svc"], f.definition, "{rel}");
    }
}

#[test]
fn a_revision_holding_an_export_placeholder_is_rejected_whole() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/roads.yaml", "type: MapServer\n");
    write(
        d.path(),
        "prod/parcels.yaml",
        "type: FeatureServer\nconnection:\n  url: \"postgres://gis:SITEHAPAIR-MASKED@db/parcels\"\n",
    );
    let e = read_services(d.path(), "prod").expect_err("a masked value must not reach a site");
    assert_eq!(
        e,
        FileError::Masked {
            file: "prod/parcels.yaml".into(),
            pointer: "/connection/url".into(),
        }
    );
    assert!(e.to_string().contains("write the value back"), "{e}");
}
