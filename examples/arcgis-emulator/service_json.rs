//! How a stored service is shown: what was posted, with what a real server
//! adds around it, so that a driver's normalisation has real fields to strip.
//!
//! Fields the emulator adds (none of them was necessarily posted):
//!
//! - Framework defaults, only where the posted JSON lacks them: `clusterName`
//!   "default", `minInstancesPerNode` 1, `maxInstancesPerNode` 2,
//!   `maxWaitTime` 60 (the defaults documented under "Service Framework
//!   Properties", <https://resources.arcgis.com/en/help/server-admin-api/editService.html>),
//!   `instancesPerContainer` 1, `maxStartupTime` 300,
//!   `maxIdleTime` 1800, `maxUsageTime` 600, `recycleInterval` 24,
//!   `recycleStartTime` "00:00", `keepAliveInterval` 1800, `loadBalancing`
//!   "ROUND_ROBIN", `isolationLevel` "HIGH" (the values of the documented
//!   createService example,
//!   <https://developers.arcgis.com/rest/enterprise-administration/server/createservice.htm>),
//!   `private` false, `maxUploadFileSize` 0, `allowedUploadFileTypes` "",
//!   `datasets` [], `frameworkProperties` {} (as in the documented service
//!   JSON, <https://developers.arcgis.com/rest/enterprise-administration/enterprise/folder.htm>),
//!   `extensions` [], `description` "", and for ArcObjects-hosted types
//!   `provider` "ArcObjects11" ("starting at ArcGIS Enterprise 11.0 ... all
//!   services [are] created using ... the ArcObjects11 provider", createservice.htm).
//! - Server-owned fields, always set by the server whatever was posted:
//!   `serviceName` and `type` (from the service's key), `configuredState`
//!   (its current state), `isDefault` (true only for built-ins), `id` (per
//!   service) and `serverId` (per site) in the documented `s…`/`v…` uuid
//!   shape (folder.htm above).
//! - `portalProperties`: `isHosted` false unless posted, and `portalItems`
//!   `[{"itemID": <32 hex>, "type": <type>}]` always the server's own (a
//!   federated server records the portal item of each service).
//! - Server directories in `properties`, where absent: `outputDir`,
//!   `virtualOutputDir`, and for map and image services `virtualCacheDir`
//!   (server-side paths that the createService example shows the server's
//!   values of).
//!
//! No timestamp is added: the documented service JSON has none.

use serde_json::{Map, Value, json};

use crate::model::{Service, Site, state_name};

/// Types hosted by the ArcObjects11 provider.
const ARCOBJECTS_TYPES: &[&str] = &[
    "MapServer",
    "ImageServer",
    "GPServer",
    "GeocodeServer",
    "GeoDataServer",
];

/// The defaults a server fills in when the posted JSON lacks them.
fn defaults(kind: &str) -> Map<String, Value> {
    let Value::Object(mut m) = json!({
        "description": "",
        "clusterName": "default",
        "minInstancesPerNode": 1,
        "maxInstancesPerNode": 2,
        "instancesPerContainer": 1,
        "maxWaitTime": 60,
        "maxStartupTime": 300,
        "maxIdleTime": 1800,
        "maxUsageTime": 600,
        "recycleInterval": 24,
        "recycleStartTime": "00:00",
        "keepAliveInterval": 1800,
        "loadBalancing": "ROUND_ROBIN",
        "isolationLevel": "HIGH",
        "private": false,
        "maxUploadFileSize": 0,
        "allowedUploadFileTypes": "",
        "properties": {},
        "extensions": [],
        "datasets": [],
        "frameworkProperties": {},
    }) else {
        return Map::new();
    };
    if ARCOBJECTS_TYPES.contains(&kind) {
        m.insert("provider".into(), json!("ArcObjects11"));
    }
    m
}

/// The full JSON of a service, as `GET .../<name>.<type>?f=json` answers.
pub fn full_json(site: &Site, svc: &Service) -> Value {
    let mut out = defaults(&svc.kind);
    for (k, v) in &svc.posted {
        out.insert(k.clone(), v.clone());
    }
    out.insert("serviceName".into(), json!(svc.name));
    out.insert("type".into(), json!(svc.kind));
    out.insert("configuredState".into(), json!(state_name(svc.started)));
    out.insert("isDefault".into(), json!(svc.builtin));
    out.insert("id".into(), json!(svc.id));
    out.insert("serverId".into(), json!(site.server_id));

    if let Some(Value::Object(props)) = out.get_mut("properties") {
        let dirs: &[(&str, &str)] = &[
            ("outputDir", "/arcgis/server/usr/directories/arcgisoutput"),
            ("virtualOutputDir", "/rest/directories/arcgisoutput"),
        ];
        for (k, v) in dirs {
            props.entry(*k).or_insert_with(|| json!(v));
        }
        if svc.kind == "MapServer" || svc.kind == "ImageServer" {
            props
                .entry("virtualCacheDir")
                .or_insert_with(|| json!("/rest/directories/arcgiscache"));
        }
    }

    let portal = out.entry("portalProperties").or_insert_with(|| json!({}));
    if !portal.is_object() {
        *portal = json!({});
    }
    if let Value::Object(p) = portal {
        p.entry("isHosted").or_insert(json!(false));
        p.insert(
            "portalItems".into(),
            json!([{"itemID": svc.item_id, "type": svc.kind}]),
        );
    }
    Value::Object(out)
}

/// A service as a folder lists it: folderName, serviceName, type,
/// description (services.htm, folder.htm).
pub fn folder_summary(folder: &str, svc: &Service) -> Value {
    let description = svc
        .posted
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    json!({
        "folderName": folder,
        "serviceName": svc.name,
        "type": svc.kind,
        "description": description,
    })
}
