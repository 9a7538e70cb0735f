//! Status writes are guarded by the resourceVersion they were planned
//! from, on the real API server: the operator's own status write, planned
//! on a read that another write has since overtaken, is refused with 409
//! and changes nothing, so status.epoch cannot go backwards.

use kube::api::Api;
use serde_json::json;
use sitehapair::api::{SiteHAPair, SiteHAPairStatus};
use sitehapair::controller::status_write::apply_status_at;

use crate::support::{Namespace, base_pair, kube_client, stderr};

#[test]
fn a_status_write_planned_on_a_stale_read_is_refused() {
    let ns = Namespace::new("guard");
    let out = ns.apply(&base_pair("gis").to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = kube_client().await;
        let api: Api<SiteHAPair> = Api::namespaced(client, &ns.name);
        let read = api.get("gis").await.expect("pair");
        let stale_rv = read.metadata.resource_version.clone();
        let at = |epoch: i64| SiteHAPairStatus {
            active_site: Some("east".into()),
            epoch,
            ..SiteHAPairStatus::default()
        };
        // A write planned on the read lands and moves the object on.
        let rv = apply_status_at(&api, "gis", &at(5), stale_rv.as_deref())
            .await
            .expect("a current write lands");
        assert_ne!(rv, stale_rv);
        // A second write planned on the same (now stale) read is refused.
        let err = apply_status_at(&api, "gis", &at(4), stale_rv.as_deref())
            .await
            .expect_err("a stale write must be refused");
        assert!(
            matches!(&err, kube::Error::Api(e) if e.code == 409),
            "{err}"
        );
        let now = api.get("gis").await.expect("pair");
        assert_eq!(now.status.map(|s| s.epoch), Some(5), "the epoch went back");
        // Planned on the current version, it lands.
        apply_status_at(&api, "gis", &at(6), rv.as_deref())
            .await
            .expect("a current write lands");
    });
    let st = ns.get_json("shp/gis").expect("pair");
    assert_eq!(st["status"]["epoch"], json!(6));
}
