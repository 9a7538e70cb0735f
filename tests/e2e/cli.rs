//! The pull-request CLI: `sitehapair validate` exits 0 on a valid checkout
//! and 1 with file:line on a broken one.

use std::process::Command;

fn validate(dir: &std::path::Path, path: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .arg("validate")
        .arg(dir)
        .args(["--path", path])
        .output()
        .expect("run sitehapair validate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn validate_accepts_good_and_names_file_and_line_of_bad() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("prod")).expect("mkdir");
    std::fs::write(
        d.path().join("prod/roads.yaml"),
        "name: roads\ntype: MapServer\n",
    )
    .expect("write");
    let (code, out) = validate(d.path(), "prod");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid: 1 services"), "{out}");

    std::fs::write(d.path().join("prod/broken.yaml"), "name: broken\ntype: [\n").expect("write");
    let (code, out) = validate(d.path(), "prod");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("prod/broken.yaml:"), "{out}");
}
