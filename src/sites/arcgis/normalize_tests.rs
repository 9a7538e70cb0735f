//! The admin JSON normalisation on definitions shaped like Esri's
//! documentation examples (the service resource and Edit Service pages of
//! the ArcGIS Server Administrator API): what is kept, what is left out.

use serde_json::{Value, json};

use super::names::ServiceId;
use super::normalize::{DefinitionError, State, canonical, check, definition_of, to_post};

/// A map service as `GET admin/services/SampleWorldCities.MapServer?f=json`
/// answers it: what a person set, plus what the server assigned.
fn as_the_server_answers() -> Value {
    json!({
        "serviceName": "SampleWorldCities",
        "type": "MapServer",
        "description": "The SampleWorldCities service is provided so you can quickly preview the server.",
        "capabilities": "Map,Query,Data",
        "provider": "ArcObjects11",
        "clusterName": "default",
        "minInstancesPerNode": 1,
        "maxInstancesPerNode": 4,
        "instancesPerContainer": 1,
        "maxWaitTime": 60,
        "maxIdleTime": 1800,
        "maxUsageTime": 600,
        "recycleInterval": 24,
        "recycleStartTime": "00:00",
        "loadBalancing": "ROUND_ROBIN",
        "isolationLevel": "HIGH",
        "private": false,
        "isDefault": false,
        "maxUploadFileSize": 0,
        "allowedUploadFileTypes": "",
        "frameworkProperties": {},
        "datasets": [],
        "properties": {
            "filePath": "${arcgisinput}/SampleWorldCities.MapServer/extracted/p20/samplecities.mapx",
            "maxRecordCount": "1000",
            // The server's own directories:
            "outputDir": "c:\\arcgisserver\\directories\\arcgisoutput",
            "virtualOutputDir": "/rest/directories/arcgisoutput",
            "virtualCacheDir": "/rest/directories/arcgiscache"
        },
        "extensions": [{"typeName": "WMSServer", "enabled": "true", "capabilities": "", "properties": {"title": "SampleWorldCities"}}],
        // Assigned by the server:
        "serverId": "vb4fb43f2-19b0-4bcd-842a-789a2299a282",
        "id": "s0b4d74be-2a54-4a44-a7e5-7f7a3c1e2b11",
        "portalProperties": {"isHosted": false, "portalItems": [{"itemID": "3f1a", "type": "MapServer"}]},
        "realTimeState": "STARTED",
        "configuredState": "STARTED",
        "folderName": "/"
    })
}

/// What a person set: no server fields, no server directories, and the
/// framework properties left at their defaults left out.
fn person_set() -> Value {
    json!({
        "serviceName": "SampleWorldCities",
        "type": "MapServer",
        "description": "The SampleWorldCities service is provided so you can quickly preview the server.",
        "capabilities": "Map,Query,Data",
        "maxInstancesPerNode": 4,
        "properties": {
            "filePath": "${arcgisinput}/SampleWorldCities.MapServer/extracted/p20/samplecities.mapx",
            "maxRecordCount": "1000"
        },
        "extensions": [{"typeName": "WMSServer", "enabled": "true", "capabilities": "", "properties": {"title": "SampleWorldCities"}}]
    })
}

#[test]
fn server_assigned_fields_and_documented_defaults_are_left_out_and_what_a_person_set_is_kept() {
    let git = definition_of(as_the_server_answers(), Some(State::Started));
    assert_eq!(git, person_set());
    let m = git.as_object().expect("object");
    for kept in [
        "serviceName",
        "type",
        "capabilities",
        "properties",
        "extensions",
        "maxInstancesPerNode",
    ] {
        assert!(m.contains_key(kept), "{kept} is what a person sets");
    }
    for gone in [
        "serverId",
        "id",
        "portalProperties",
        "realTimeState",
        "folderName",
        "configuredState",
        "isDefault",
    ] {
        assert!(!m.contains_key(gone), "{gone} is the server's");
    }
    for default in [
        "maxWaitTime",
        "minInstancesPerNode",
        "loadBalancing",
        "datasets",
        "frameworkProperties",
        "provider",
    ] {
        assert!(
            !m.contains_key(default),
            "{default} is at its documented default"
        );
    }
    let props = m["properties"].as_object().expect("properties");
    assert!(!props.contains_key("outputDir") && !props.contains_key("virtualCacheDir"));
}

#[test]
fn a_default_spelled_out_in_git_equals_one_left_out() {
    let mut spelled = person_set();
    spelled["maxWaitTime"] = json!(60);
    spelled["loadBalancing"] = json!("ROUND_ROBIN");
    spelled["configuredState"] = json!("STARTED");
    spelled["properties"]["virtualOutputDir"] = json!("/rest/directories/arcgisoutput");
    assert_eq!(canonical(&spelled), canonical(&person_set()));
    // A value other than the default is a real difference.
    spelled["maxWaitTime"] = json!(90);
    assert_ne!(canonical(&spelled), canonical(&person_set()));
}

#[test]
fn a_stopped_service_says_so_and_a_started_one_says_nothing() {
    let stopped = definition_of(as_the_server_answers(), Some(State::Stopped));
    assert_eq!(stopped["configuredState"], "STOPPED");
    let unknown = definition_of(as_the_server_answers(), None);
    assert!(unknown.get("configuredState").is_none());
}

#[test]
fn what_is_posted_names_the_service_and_carries_no_state() {
    let id = ServiceId::parse("SampleWorldCities.MapServer").expect("name");
    let mut git = person_set();
    git.as_object_mut().expect("object").remove("serviceName");
    git["configuredState"] = json!("STOPPED");
    let (posted, state) = to_post(&id, &git).expect("post");
    assert_eq!(state, State::Stopped);
    assert_eq!(
        posted["serviceName"], "SampleWorldCities",
        "taken from the name"
    );
    assert_eq!(posted["type"], "MapServer");
    assert!(
        posted.get("configuredState").is_none(),
        "the state is an operation, not JSON"
    );
    // Read back from the server (which adds its own fields), it is git again.
    let mut stored = posted.clone();
    let m = stored.as_object_mut().expect("object");
    m.insert("serverId".into(), json!("v1"));
    m.insert("id".into(), json!("s1"));
    let back = definition_of(stored, Some(State::Stopped));
    let mut expected = git.clone();
    expected["serviceName"] = json!("SampleWorldCities");
    assert_eq!(back, expected);
}

#[test]
fn a_definition_naming_another_service_is_refused() {
    let id = ServiceId::parse("Hydro.Rivers.MapServer").expect("name");
    let e = to_post(&id, &json!({"serviceName": "Lakes", "type": "MapServer"})).unwrap_err();
    assert!(
        matches!(
            e,
            DefinitionError::Mismatch {
                field: "serviceName",
                ..
            }
        ),
        "{e}"
    );
    let e = to_post(&id, &json!({"type": "FeatureServer"})).unwrap_err();
    assert!(e.to_string().contains("the name says \"MapServer\""), "{e}");
    let e = to_post(&id, &json!({"configuredState": "PAUSED"})).unwrap_err();
    assert!(matches!(e, DefinitionError::State { .. }), "{e}");
    assert!(matches!(
        to_post(&id, &json!([1])).unwrap_err(),
        DefinitionError::NotObject { .. }
    ));
}

#[test]
fn validate_checks_the_name_rules_and_that_the_definition_agrees_with_its_name() {
    assert_eq!(check("SampleWorldCities.MapServer", &person_set()), Ok(()));
    let e = check("Lakes.MapServer", &person_set()).unwrap_err();
    assert!(e.contains("serviceName is \"SampleWorldCities\""), "{e}");
    let e = check("SampleWorldCities", &person_set()).unwrap_err();
    assert!(e.contains("Name.Type or Folder.Name.Type"), "{e}");
    let mut paused = person_set();
    paused["configuredState"] = json!("PAUSED");
    assert!(check("SampleWorldCities.MapServer", &paused).is_err());
}

#[test]
fn the_example_folder_validates_for_arcgis() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/arcgis/services");
    let set = crate::source::files::read_services(&dir, "prod").expect("the example folder reads");
    let names: Vec<&str> = set.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "Hydro.Rivers.MapServer",
            "SampleWorldCities.MapServer",
            "Tools.BufferPoints.GPServer"
        ]
    );
    for (name, def) in &set {
        assert_eq!(check(name, def), Ok(()), "{name}");
    }
}
