//! Status writes are guarded by the resourceVersion they were planned
//! from, on the real API server: the operator's own status write, planned
//! on a read that another write has since overtaken, is refused with 409
//! and changes nothing, so status.epoch cannot go backwards. Tested on the
//! path every reconcile writes through (`StatusJournal::write`, which must carry
//! the resourceVersion of the trip's read) and on the call under it
//! (`apply_status_at`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kube::api::Api;
use serde_json::json;
use sitehapair::api::{SiteHAPair, SiteHAPairStatus};
use sitehapair::controller::Context;
use sitehapair::controller::secrets::SecretStore;
use sitehapair::controller::trip::error::JournalError;
use sitehapair::controller::trip::journal::{Recorded, StatusJournal, apply_status_at};
use sitehapair::source::cache::SourceCache;
use sitehapair::telemetry::Metrics;

use crate::support::{Namespace, base_pair, kube_client, stderr};

/// The status a trip would write: `epoch`, with east active.
fn at(epoch: i64) -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("east".into()),
        epoch,
        ..SiteHAPairStatus::default()
    }
}

/// The operator's own status write (`StatusJournal::write`, as every trip
/// calls it, with a leading context) planned on a read that another
/// writer has overtaken: the API server refuses it (409, the operator's
/// Conflict), the newer status stands, and the trip that reads again
/// writes.
#[test]
fn the_operators_own_status_write_planned_on_a_stale_read_is_refused() {
    let ns = Namespace::new("guard-own");
    let out = ns.apply(&base_pair("gis").to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = kube_client().await;
        let ctx = Context::new(
            client.clone(),
            "status-guard-test",
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(true)),
            Arc::new(SourceCache::new(
                cache.path().to_path_buf(),
                Duration::from_secs(5),
            )),
            Arc::new(SecretStore::unwatched(client.clone())),
            false,
        );
        assert!(ctx.is_leader());
        let api: Api<SiteHAPair> = Api::namespaced(client, &ns.name);
        // The trip reads the pair and writes epoch 3: it lands.
        let read = api.get("gis").await.expect("pair");
        let mut written = StatusJournal::open(&read, jiff::Timestamp::now());
        assert_eq!(
            written
                .write(&ctx, &read, &at(3))
                .await
                .expect("a write on a fresh read lands"),
            Recorded::Written,
            "nothing was written"
        );
        let ours = written.resource_version().map(str::to_string);
        assert_ne!(ours, read.metadata.resource_version);
        // Someone else (a newer leader) moves status on to epoch 5.
        ns.kubectl(&[
            "patch",
            "shp",
            "gis",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"epoch":5}}"#,
        ]);
        let newer = api.get("gis").await.expect("pair");
        assert_eq!(newer.status.as_ref().map(|s| s.epoch), Some(5));
        assert_ne!(newer.metadata.resource_version, ours);
        // The trip, still on its own (now stale) version, writes epoch 4:
        // refused, and epoch 5 stands.
        let err = written
            .write(&ctx, &read, &at(4))
            .await
            .expect_err("a status write planned on a stale read must be refused");
        assert!(
            matches!(&err, JournalError::Conflict { resource_version }
                if Some(resource_version.as_str()) == ours.as_deref()),
            "{err}"
        );
        let now = api.get("gis").await.expect("pair");
        assert_eq!(
            now.status.as_ref().map(|s| s.epoch),
            Some(5),
            "a stale write moved the epoch back"
        );
        assert_eq!(
            now.metadata.resource_version,
            newer.metadata.resource_version
        );
        // The next trip reads again, and its write lands.
        let mut again = StatusJournal::open(&now, jiff::Timestamp::now());
        assert_eq!(
            again
                .write(&ctx, &now, &at(6))
                .await
                .expect("a write on a fresh read lands"),
            Recorded::Written
        );
    });
    let st = ns.get_json("shp/gis").expect("pair");
    assert_eq!(st["status"]["epoch"], json!(6));
}

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
