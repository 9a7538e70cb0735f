//! What `sitehapair export` writes, decided without I/O: one file per
//! service, `<name>.json` (the name `validate` reads back from the file
//! name), the definition in the kind's canonical form with its secret
//! values masked (`source::masked`), and what cannot be written (a name
//! git cannot hold, a `name` field that disagrees with the service's
//! name) left out with the reason.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::sites::survey::LeftOut;
use crate::source::files::check_name;
use crate::source::masked::mask;

/// The files to write and what the summary says.
#[derive(Debug, Default, PartialEq)]
pub struct ExportPlan {
    /// (file name, pretty JSON with a final newline), sorted.
    pub files: Vec<(String, String)>,
    /// (service, JSON pointer) of every masked value.
    pub masked: Vec<(String, String)>,
    /// Services that could not be written.
    pub left_out: Vec<LeftOut>,
}

/// The plan for `services` (name → definition, already in the kind's
/// canonical form).
pub fn plan(services: &BTreeMap<String, Value>) -> ExportPlan {
    let mut out = ExportPlan::default();
    for (name, def) in services {
        if let Err(why) = check_name(name) {
            out.left_out.push(LeftOut {
                item: format!("service {name:?}"),
                why: format!("its name cannot be a file name: {why}"),
            });
            continue;
        }
        if name.starts_with('.') {
            out.left_out.push(LeftOut {
                item: format!("service {name:?}"),
                why: "a file name starting with a dot is hidden, and not read".into(),
            });
            continue;
        }
        if let Some(field) = def.get("name").filter(|n| n.as_str() != Some(name)) {
            out.left_out.push(LeftOut {
                item: format!("service {name:?}"),
                why: format!(
                    "its definition's name field ({field}) would name another service; rename it on the site"
                ),
            });
            continue;
        }
        let (masked, pointers) = mask(def);
        out.masked
            .extend(pointers.into_iter().map(|p| (name.clone(), p)));
        let text = serde_json::to_string_pretty(&masked).unwrap_or_else(|_| masked.to_string());
        out.files
            .push((format!("{name}.json"), format!("{text}\n")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::files::parse_service_file;
    use serde_json::json;

    #[test]
    fn each_service_becomes_a_file_that_reads_back_as_the_same_service() {
        let services: BTreeMap<String, Value> = [
            (
                "roads".to_string(),
                json!({"type": "MapServer", "version": 2}),
            ),
            (
                "Hydro.Rivers.MapServer".to_string(),
                json!({"serviceName": "Rivers", "type": "MapServer"}),
            ),
            (
                "parcels".to_string(),
                json!({"name": "parcels", "layers": [1, 2]}),
            ),
        ]
        .into_iter()
        .collect();
        let p = plan(&services);
        assert!(p.left_out.is_empty() && p.masked.is_empty(), "{p:?}");
        assert_eq!(p.files.len(), 3);
        for (file, text) in &p.files {
            let read = parse_service_file(&format!("services/{file}"), text).expect("reads back");
            assert_eq!(services.get(&read.name), Some(&read.definition), "{file}");
        }
    }

    #[test]
    fn secrets_are_masked_and_named_and_unwritable_services_left_out() {
        let services: BTreeMap<String, Value> = [
            (
                "roads".to_string(),
                json!({"connection": {"password": "pw"}}),
            ),
            ("other".to_string(), json!({"name": "renamed"})),
            (".hidden".to_string(), json!({})),
            ("a b".to_string(), json!({})),
        ]
        .into_iter()
        .collect();
        let p = plan(&services);
        assert_eq!(
            p.masked,
            [("roads".to_string(), "/connection/password".to_string())]
        );
        assert_eq!(p.files.len(), 1);
        assert!(!p.files[0].1.contains("\"pw\""));
        let items: Vec<&str> = p.left_out.iter().map(|l| l.item.as_str()).collect();
        assert_eq!(
            items,
            [
                "service \".hidden\"",
                "service \"a b\"",
                "service \"other\""
            ]
        );
        // A masked file is refused until the value is written back.
        let e = parse_service_file("services/roads.json", &p.files[0].1).unwrap_err();
        assert!(e.to_string().contains("/connection/password"), "{e}");
    }
}
