//! Tests of reading per-site overlays: merged per site, the file-name rule
//! never confused with dotted service names (ArcGIS `Folder.Name.Type`),
//! and every mistake named by file and line.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::files::{FileError, read_source};
use super::overlays::check_overlay_sites;
use crate::plan::overlay::OverlayError;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

#[test]
fn a_site_overlay_is_merged_over_the_base_for_that_site_only() {
    let d = tempfile::tempdir().expect("tempdir");
    write(
        d.path(),
        "prod/db.yaml",
        "name: db\nconnection:\n  host: db.internal\n  pool: 5\n",
    );
    write(d.path(), "prod/roads.yaml", "name: roads\nversion: 1\n");
    write(
        d.path(),
        "prod/.sites/east/db.yaml",
        "connection:\n  host: db-east.internal\n  pool: null\n",
    );
    let set = read_source(d.path(), "prod").expect("valid");
    assert_eq!(
        set.for_site("east")["db"],
        json!({"name": "db", "connection": {"host": "db-east.internal"}})
    );
    assert_eq!(set.for_site("west"), &set.base);
    assert_eq!(set.for_site("east")["roads"], set.base["roads"]);
    assert_eq!(set.overlay_files["east"], ["prod/.sites/east/db.yaml"]);
    assert!(check_overlay_sites(&set, &["east", "west"]).is_ok());
}

#[test]
fn a_repository_without_overlays_reads_as_before() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/roads.yaml", "name: roads\n");
    // A folder named `sites` (no dot) holds services, as it always did.
    write(d.path(), "prod/sites/east/parcels.yaml", "version: 2\n");
    let set = read_source(d.path(), "prod").expect("valid");
    assert!(set.merged.is_empty() && set.overlay_files.is_empty());
    assert_eq!(
        set.base.keys().collect::<Vec<_>>(),
        ["parcels", "roads"],
        "sites/east/parcels.yaml is a service named parcels"
    );
}

#[test]
fn dotted_service_names_are_never_taken_for_site_suffixes() {
    let d = tempfile::tempdir().expect("tempdir");
    // Names that look like `<service>.<site>`: each is a service of its own.
    write(d.path(), "prod/db.yaml", "version: 1\n");
    write(d.path(), "prod/db.east.yaml", "version: 2\n");
    write(
        d.path(),
        "prod/Roads.Hydrants.MapServer.yaml",
        "name: Roads/Hydrants.MapServer\n",
    );
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(matches!(e, FileError::BadName { .. }), "{e}");
    write(
        d.path(),
        "prod/Roads.Hydrants.MapServer.yaml",
        "maxInstances: 2\n",
    );
    // The overlay of a dotted name is named exactly like its base file.
    write(
        d.path(),
        "prod/.sites/west/Roads.Hydrants.MapServer.yaml",
        "maxInstances: 4\n",
    );
    let set = read_source(d.path(), "prod").expect("valid");
    assert_eq!(
        set.base.keys().collect::<Vec<_>>(),
        ["Roads.Hydrants.MapServer", "db", "db.east"]
    );
    assert_eq!(set.for_site("east"), &set.base, "db.east is no overlay");
    assert_eq!(
        set.for_site("west")["Roads.Hydrants.MapServer"]["maxInstances"],
        4
    );
    assert_eq!(set.for_site("west")["db.east"], json!({"version": 2}));
    // By its name field, an overlay may live in any file name.
    write(
        d.path(),
        "prod/.sites/west/Roads.Hydrants.MapServer.yaml",
        "name: db.east\nversion: 3\n",
    );
    let set = read_source(d.path(), "prod").expect("valid");
    assert_eq!(set.for_site("west")["db.east"], json!({"version": 3}));
    assert_eq!(
        set.for_site("west")["Roads.Hydrants.MapServer"],
        set.base["Roads.Hydrants.MapServer"]
    );
}

#[test]
fn overlay_mistakes_name_file_and_line() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "prod/db.yaml", "name: db\nhost: a\n");
    // Without a base service.
    write(
        d.path(),
        "prod/.sites/east/dbx.yaml",
        "# pool\nname: dbx\npool: 2\n",
    );
    let e = read_source(d.path(), "prod").unwrap_err();
    assert_eq!(
        e.to_string(),
        "prod/.sites/east/dbx.yaml:2: overlay for site east patches service \"dbx\", which no service file defines"
    );
    fs::remove_file(d.path().join("prod/.sites/east/dbx.yaml")).expect("rm");
    // Changing the name.
    write(
        d.path(),
        "prod/.sites/east/db.yaml",
        "host: b\nname: other\n",
    );
    let e = read_source(d.path(), "prod").unwrap_err();
    // The file names `other`, which has no base: named as such.
    assert!(
        matches!(e, FileError::Overlay(OverlayError::NoBase { line: 2, .. })),
        "{e}"
    );
    write(
        d.path(),
        "prod/.sites/east/db.yaml",
        "host: b\nname: null\n",
    );
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(e.to_string().contains("must be a string"), "{e}");
    // Two overlays for one service of one site.
    write(d.path(), "prod/.sites/east/db.yaml", "host: b\n");
    write(
        d.path(),
        "prod/.sites/east/more/database.json",
        r#"{"name": "db", "x": 1}"#,
    );
    let e = read_source(d.path(), "prod").unwrap_err();
    assert_eq!(
        e.to_string(),
        "prod/.sites/east/more/database.json:1: overlay for service \"db\" of site east is also in prod/.sites/east/db.yaml"
    );
    fs::remove_dir_all(d.path().join("prod/.sites/east/more")).expect("rm");
    // A file in .sites/ itself, and a folder that is no site name.
    write(d.path(), "prod/.sites/db.yaml", "host: c\n");
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(matches!(e, FileError::OverlayOutsideSite { .. }), "{e}");
    assert!(e.to_string().starts_with("prod/.sites/db.yaml:1:"), "{e}");
    fs::remove_file(d.path().join("prod/.sites/db.yaml")).expect("rm");
    write(d.path(), "prod/.sites/East_1/db.yaml", "host: c\n");
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(matches!(e, FileError::OverlaySiteName { .. }), "{e}");
    fs::remove_dir_all(d.path().join("prod/.sites/East_1")).expect("rm");
    // Malformed overlay: the parse error names file and line.
    write(d.path(), "prod/.sites/east/db.yaml", "host: b\npool: [1\n");
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(
        e.to_string().starts_with("prod/.sites/east/db.yaml:"),
        "{e}"
    );
    // A good overlay, for a site the pair does not have.
    write(d.path(), "prod/.sites/east/db.yaml", "host: b\n");
    let set = read_source(d.path(), "prod").expect("valid without the pair's sites");
    let e = check_overlay_sites(&set, &["north", "south"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "prod/.sites/east/db.yaml:1: overlay for site \"east\", which is not a site of the pair (sites: north, south)"
    );
}

#[test]
fn an_overlay_folder_linked_out_of_the_repository_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "east/db.yaml", "host: stolen\n");
    write(d.path(), "prod/db.yaml", "host: a\n");
    std::os::unix::fs::symlink(outside.path(), d.path().join("prod/.sites")).expect("symlink");
    let e = read_source(d.path(), "prod").unwrap_err();
    assert!(matches!(e, FileError::SymlinkEscapes { .. }), "{e}");
}
