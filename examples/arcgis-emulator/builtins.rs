//! The services a new site starts with (unless `--no-builtin-services`):
//! the server-owned System and Utilities folders, each with a few of the
//! services the docs list for it, all STARTED and marked `isDefault`.

use serde_json::{Map, json};

use crate::model::{Folder, NewIds, Service, Site};

/// Built-in services: the System and Utilities folders as documented
/// (<https://developers.arcgis.com/rest/enterprise-administration/server/system-folder.htm>,
/// <https://developers.arcgis.com/rest/enterprise-administration/server/utilities-folder.htm>);
/// a few of each, descriptions in the emulator's words.
const BUILTINS: &[(&str, &str, &str, &str)] = &[
    (
        "System",
        "CachingControllers",
        "GPServer",
        "Controls cache jobs for map, globe and image services.",
    ),
    (
        "System",
        "CachingTools",
        "GPServer",
        "Builds and manages map and image service caches.",
    ),
    (
        "System",
        "PublishingTools",
        "GPServer",
        "Publishes services for the server.",
    ),
    (
        "System",
        "ReportingTools",
        "GPServer",
        "Reports the cache status of map and image services.",
    ),
    (
        "System",
        "SyncTools",
        "GPServer",
        "Supports offline synchronization of feature services.",
    ),
    (
        "Utilities",
        "Geometry",
        "GeometryServer",
        "Geometric calculations for client applications.",
    ),
    (
        "Utilities",
        "OfflinePackaging",
        "GPServer",
        "Creates and prepares map areas for offline use.",
    ),
    (
        "Utilities",
        "PrintingTools",
        "GPServer",
        "Exports a web map to PDF, PNG and other formats.",
    ),
];

/// Add the built-in folders and services to `site`.
pub fn add(site: &mut Site) {
    site.folders.insert(
        "System".into(),
        Folder::new("Services deployed by the server and used by it.", true),
    );
    site.folders.insert(
        "Utilities".into(),
        Folder::new("Services deployed by the server for applications.", true),
    );
    for (folder, name, kind, description) in BUILTINS {
        let ids = NewIds::random();
        let mut posted = Map::new();
        posted.insert("serviceName".into(), json!(name));
        posted.insert("type".into(), json!(kind));
        posted.insert("description".into(), json!(description));
        let svc = Service {
            name: name.to_string(),
            kind: kind.to_string(),
            posted,
            started: true,
            id: ids.id,
            item_id: ids.item_id,
            builtin: true,
        };
        if let Some(f) = site.folders.get_mut(*folder) {
            f.services.insert(format!("{name}.{kind}"), svc);
        }
    }
}
