//! Tests of service file reading: good files, and every way a revision is
//! rejected with file and line.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::files::{FileError, read_services};

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
