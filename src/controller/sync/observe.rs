//! Observing the sites at the start of a trip: each site's driver built
//! from its Secrets, then its health check and `GET /mode` together (only
//! the admin API decides silence), `GET /info` when due, and its services
//! (conditionally on an ETag when one matched). Also the CLI's observation
//! without services.

use std::borrow::Cow;
use std::time::Duration;

use futures::future::join_all;
use kube::Client;

use crate::api::{SiteContact, SiteMode, SiteSpec};
use crate::controller::secrets::{SecretStore, TripSecrets};
use crate::controller::site_drivers::{SiteClients, site_driver};
use crate::plan::diff::ServiceSet;
use crate::plan::digest::Digests;
use crate::plan::overlay::SourceSet;
use crate::plan::sync_status::SiteReport;
use crate::sites::{Listing, Mode, Site, SiteDriver, SiteError};
use crate::source::cache::Parsed;

/// Timeout of one write or list call to a site.
pub(super) const SITE_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Which listing a trip asks of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ask {
    /// Health, mode and version only.
    NoServices,
    /// Health, mode and version; the services are the revision's, as a
    /// whole listing showed them within the source's interval (a site that
    /// sends no ETag, at rest: `ListingMemo::listed_within`).
    Remembered,
    /// The services; with an ETag, only if they changed since. `before`:
    /// the tag matched the revision before this one, whose services these
    /// are (else it matched this revision).
    Services {
        etag: Option<String>,
        before: Option<Parsed>,
    },
}

/// One site as observed at the start of the trip.
pub(crate) struct Observed {
    pub(crate) spec_name: String,
    pub(crate) driver: Result<SiteDriver, String>,
    pub(crate) report: SiteReport,
    pub(crate) services: Option<Live>,
    /// The ETag of the listing read this trip, if the site gave one.
    pub(crate) etag: Option<String>,
    /// `GET /info` answered this trip.
    pub(crate) read_info: bool,
    /// `GET /services` answered this trip (whole, or unchanged).
    pub(crate) listed: bool,
}

/// The services `site` should hold: the revision's base with the site's
/// overlays merged, as `driver`'s kind compares it (see `Site::canonical`).
pub(crate) fn desired_for<'a>(
    driver: &Result<SiteDriver, String>,
    site: &str,
    source: &'a SourceSet,
) -> Cow<'a, ServiceSet> {
    let merged = source.for_site(site);
    match driver.as_ref().ok().and_then(|d| d.canonical_set(merged)) {
        Some(own) => Cow::Owned(own),
        None => Cow::Borrowed(merged),
    }
}

/// The services on a site, as this trip knows them.
pub(crate) enum Live {
    /// Read in full.
    Listed(ServiceSet),
    /// Unchanged (304) since a listing that matched this revision exactly,
    /// or, for a site without ETags, so listed within the source's interval.
    AsRevision,
    /// Unchanged (304) since a listing that matched the revision before
    /// this one exactly (a push moved the source): the site holds exactly
    /// that revision's services, shared from the source cache, not read.
    AsBefore(Parsed),
}

/// The services on site `site`, when observed; `desired` stands for a
/// site known to hold exactly the revision.
pub(crate) fn live_of<'a>(
    services: &'a Option<Live>,
    site: &str,
    desired: &'a ServiceSet,
) -> Option<&'a ServiceSet> {
    match services.as_ref()? {
        Live::Listed(s) => Some(s),
        Live::AsRevision => Some(desired),
        Live::AsBefore(before) => before.as_ref().as_ref().ok().map(|b| b.for_site(site)),
    }
}

/// The digests to plan `site` by (`plan::digest`), when both sides have
/// them computed once for all pairs: the revision's set as written (kinds
/// that compare a canonical form of their own have no shared digests) and
/// the revision before's, when the site is known to hold exactly that.
pub(crate) fn digests_of<'a>(
    services: &'a Option<Live>,
    site: &str,
    desired: &ServiceSet,
    source: &'a SourceSet,
) -> Option<(&'a Digests, &'a Digests)> {
    let Some(Live::AsBefore(before)) = services else {
        return None;
    };
    // The revision's own set, not a kind's canonical copy of it.
    if !std::ptr::eq(desired, source.for_site(site)) {
        return None;
    }
    let before = before.as_ref().as_ref().ok()?;
    Some((source.digests_for(site), before.digests_for(site)))
}

/// The status form of a site's mode.
pub fn site_mode(mode: Mode) -> SiteMode {
    match mode {
        Mode::Active => SiteMode::Active,
        Mode::Passive => SiteMode::Passive,
    }
}

/// Health, mode, version and (when `with_services`) services of one site.
pub(super) async fn observe(
    secrets: &TripSecrets<'_>,
    clients: &SiteClients,
    site: &SiteSpec,
    health_path: &str,
    health_timeout: Duration,
    ask: Ask,
    with_info: bool,
) -> Observed {
    let mut report = SiteReport {
        name: site.name.clone(),
        ..SiteReport::default()
    };
    let driver = site_driver(secrets, clients, site, health_path, SITE_CALL_TIMEOUT).await;
    let mut services = None;
    let mut etag = None;
    let mut read_info = false;
    let mut listed = false;
    match &driver {
        Err(e) => {
            report.contact = SiteContact::Misconfigured;
            report.error = Some(e.clone());
        }
        Ok(d) => {
            health_and_mode(d, &site.name, health_timeout, &mut report).await;
            if report.error.is_none()
                && with_info
                && let Ok(info) = d.info().await
            {
                read_info = true;
                report.version = Some(info.version);
                report.token_key_fingerprint = info
                    .token_key_fingerprint
                    .map(|f| crate::sites::http::trim(&f, 80));
            }
            match (&report.error, &ask) {
                (
                    None,
                    Ask::Services {
                        etag: known,
                        before,
                    },
                ) => match list(d, &site.name, known.as_ref(), before.as_ref()).await {
                    Ok((live, tag)) => (services, etag, listed) = (Some(live), tag, true),
                    Err(e) => fail(&mut report, e),
                },
                (None, Ask::Remembered) => services = Some(Live::AsRevision),
                _ => {}
            }
        }
    }
    Observed {
        spec_name: site.name.clone(),
        driver,
        report,
        services,
        etag,
        read_info,
        listed,
    }
}

/// The first failed admin call says how the site answered; later calls
/// are skipped. Only the admin API decides whether a site is silent.
fn fail(report: &mut SiteReport, e: SiteError) {
    report.contact = e.contact();
    report.error = Some(e.to_string());
}

/// The health check and `GET /mode`, sent together: a health check that
/// hangs delays nothing and silences nobody; it makes the site unhealthy,
/// with the reason shown.
async fn health_and_mode(
    d: &SiteDriver,
    site: &str,
    health_timeout: Duration,
    report: &mut SiteReport,
) {
    let health = async {
        match tokio::time::timeout(health_timeout, d.health()).await {
            Ok(answer) => answer,
            Err(_) => Err(SiteError::Timeout {
                site: site.to_string(),
                call: d.health_call().to_string(),
                timeout_ms: health_timeout.as_millis(),
            }),
        }
    };
    let (health, mode) = futures::join!(health, d.mode());
    match health {
        Ok(h) => report.healthy = Some(h),
        Err(e) => {
            report.healthy = Some(false);
            report.health_error = Some(format!("health check: {e}"));
        }
    }
    match mode {
        Ok(m) => {
            report.mode = Some(site_mode(m.mode));
            report.epoch = Some(m.epoch);
        }
        Err(e) => fail(report, e),
    }
}

/// A site's services: in full, or unchanged (304) since `known`, the tag
/// that matched this revision, or, with `before`, the revision before
/// (whose services these are). Returns them and the tag to remember.
async fn list(
    d: &SiteDriver,
    site: &str,
    known: Option<&String>,
    before: Option<&Parsed>,
) -> Result<(Live, Option<String>), SiteError> {
    Ok(
        match d.services_if_changed(known.map(String::as_str)).await? {
            Listing::Unchanged => match before {
                None => (Live::AsRevision, None),
                Some(before) => {
                    // As this kind of site compares them (a copy only for
                    // kinds that rewrite definitions).
                    let canonical = before
                        .as_ref()
                        .as_ref()
                        .ok()
                        .and_then(|b| d.canonical_set(b.for_site(site)));
                    let live = match canonical {
                        Some(own) => Live::Listed(own),
                        None => Live::AsBefore(before.clone()),
                    };
                    (live, known.cloned())
                }
            },
            Listing::Full { services, etag } => (Live::Listed(services), etag),
        },
    )
}

/// Health, mode, epoch and version of every site (no services), as the
/// CLI's dry run and status see them.
pub async fn observe_sites(
    client: &Client,
    namespace: &str,
    spec: &crate::api::SiteHAPairSpec,
) -> Vec<SiteReport> {
    let timeout = crate::plan::spec_check::check_spec(spec)
        .times
        .health_timeout;
    let store = SecretStore::unwatched(client.clone());
    let secrets = TripSecrets::new(&store, namespace);
    let clients = SiteClients::in_cluster(client.clone());
    join_all(spec.sites.iter().map(|s| {
        observe(
            &secrets,
            &clients,
            s,
            &spec.health_check.path,
            timeout,
            Ask::NoServices,
            true,
        )
    }))
    .await
    .into_iter()
    .map(|o| o.report)
    .collect()
}
