//! The sync trip, the I/O half: build the site drivers from their Secrets,
//! observe every site (health, mode, services), take the source snapshot
//! from the shared cache, then carry out the pure plan: passive sites first,
//! their health checked after the apply, the active site only when the gate
//! opens. Everything it saw and did comes back as a `SyncReport`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::Context;
use super::active_change::ActiveWork;
use super::secrets::{SecretStore, TripSecrets};
use super::site_drivers::{SiteClients, check_source_url, site_driver, source_key};
use crate::api::{ANNOTATION_APPROVE_PRUNE, GitSource, SiteHAPair, SiteSpec, duration};
use crate::api::{SiteContact, SiteMode, SyncStrategy};
use crate::plan::diff::{ServiceSet, SiteDiff};
use crate::plan::sync::{PassiveOutcome, SitePlan, SiteView, active_gate, plan_site};
use crate::plan::sync_status::{SiteReport, SourceReport, SyncReport, drift_of};
use crate::sites::SiteDriver;
use crate::sites::{Listing, Mode, Site, SiteError};
use crate::source::cache::{Parsed, Snapshot, SourceError};
use crate::source::git::GitError;

/// Timeout of one write or list call to a site.
const SITE_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// One site as observed at the start of the trip.
pub(super) struct Observed {
    pub(super) spec_name: String,
    pub(super) driver: Result<SiteDriver, String>,
    pub(super) report: SiteReport,
    pub(super) services: Option<Live>,
    /// The ETag of the listing read this trip, if the site gave one.
    pub(super) etag: Option<String>,
    /// `GET /info` answered this trip.
    read_info: bool,
}

/// The revision as `driver`'s kind compares it, when that is not the
/// revision as written (see `Site::canonical`).
pub(super) fn desired_for(
    driver: &Result<SiteDriver, String>,
    desired: &ServiceSet,
) -> Option<ServiceSet> {
    driver.as_ref().ok()?.canonical_set(desired)
}

/// The services on a site, as this trip knows them.
pub(super) enum Live {
    /// Read in full.
    Listed(ServiceSet),
    /// Unchanged (304) since a listing that matched this revision exactly.
    AsRevision,
    /// Unchanged (304) since a listing that matched the revision before
    /// this one exactly (a push moved the source): the site holds exactly
    /// that revision's services, shared from the source cache, not read.
    AsBefore(Parsed),
}

/// The services on a site, when observed; `desired` stands for a site
/// known to hold exactly the revision.
fn live_of<'a>(services: &'a Option<Live>, desired: &'a ServiceSet) -> Option<&'a ServiceSet> {
    match services.as_ref()? {
        Live::Listed(s) => Some(s),
        Live::AsRevision => Some(desired),
        Live::AsBefore(before) => before.as_ref().as_ref().ok(),
    }
}

/// What one trip syncs the sites to, and what it knows of them.
pub(super) struct Target<'a> {
    pub(super) revision: &'a str,
    pub(super) desired: &'a ServiceSet,
    pub(super) spec: &'a crate::api::SiteHAPairSpec,
    /// The revision each site last held in full (status).
    pub(super) synced: &'a BTreeMap<String, String>,
    pub(super) joining: &'a std::collections::BTreeSet<String>,
    pub(super) approved: Option<&'a str>,
    pub(super) listings: &'a ListingKeys<'a>,
}

/// Which listing a trip asks of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ask {
    /// Health, mode and version only.
    NoServices,
    /// The services; with an ETag, only if they changed since. `before`:
    /// the tag matched the revision before this one, whose services these
    /// are (else it matched this revision).
    Services {
        etag: Option<String>,
        before: Option<Parsed>,
    },
}

/// Where a trip records which listings matched the revision.
pub(super) struct ListingKeys<'a> {
    pub(super) memo: &'a super::listings::ListingMemo,
    /// The pair.
    pub(super) pair: &'a super::PairKey,
    /// Source URL, folder and commit: what "matched" means.
    pub(super) desired: &'a str,
}

impl ListingKeys<'_> {
    /// After a site was compared (and maybe written): remember its ETag
    /// only when it holds exactly the revision and nothing was written.
    pub(super) fn settle(&self, o: &Observed, drift_empty: bool) {
        let wrote = !o.report.wrote.is_empty() || o.report.error.is_some();
        match (&o.services, &o.etag) {
            (Some(Live::AsRevision), _) if !wrote => {}
            // Read in full, or unchanged since the revision before: at this
            // tag the site holds exactly this revision when nothing differed.
            (Some(Live::Listed(_) | Live::AsBefore(_)), Some(tag)) if drift_empty && !wrote => self
                .memo
                .matched(self.pair, &o.spec_name, tag, self.desired),
            _ => self.memo.unknown(self.pair, &o.spec_name),
        }
    }
}

/// What a listing that matched is remembered against: source URL, folder
/// and commit.
fn listing_key(git: &GitSource, revision: &str) -> String {
    format!("{}#{}@{}", git.url, git.path, revision)
}

/// What to ask a site for its services: conditionally on the tag that
/// matched this revision; else on the one that matched the revision before
/// (`before`: its key and services); else in full.
fn ask_services(listings: &ListingKeys<'_>, site: &str, before: Option<&(String, &Parsed)>) -> Ask {
    if let Some(tag) = listings
        .memo
        .etag_for(listings.pair, site, listings.desired)
    {
        return Ask::Services {
            etag: Some(tag),
            before: None,
        };
    }
    match before.and_then(|(key, services)| {
        Some((listings.memo.etag_for(listings.pair, site, key)?, *services))
    }) {
        Some((tag, services)) => Ask::Services {
            etag: Some(tag),
            before: Some(services.clone()),
        },
        None => Ask::Services {
            etag: None,
            before: None,
        },
    }
}

/// The status form of a site's mode.
pub fn site_mode(mode: Mode) -> SiteMode {
    match mode {
        Mode::Active => SiteMode::Active,
        Mode::Passive => SiteMode::Passive,
    }
}

/// Health, mode, version and (when `with_services`) services of one site.
async fn observe(
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
    // The first failed admin call says how the site answered; later calls
    // are skipped. Only the admin API decides whether a site is silent.
    let fail = |report: &mut SiteReport, e: SiteError| {
        report.contact = e.contact();
        report.error = Some(e.to_string());
    };
    match &driver {
        Err(e) => {
            report.contact = SiteContact::Misconfigured;
            report.error = Some(e.clone());
        }
        Ok(d) => {
            // The health check and GET /mode go out together: a health
            // check that hangs delays nothing and silences nobody; it makes
            // the site unhealthy, with the reason shown.
            let health = async {
                match tokio::time::timeout(health_timeout, d.health()).await {
                    Ok(answer) => answer,
                    Err(_) => Err(SiteError::Timeout {
                        site: site.name.clone(),
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
                Err(e) => fail(&mut report, e),
            }
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
            if let (
                None,
                Ask::Services {
                    etag: known,
                    before,
                },
            ) = (&report.error, &ask)
            {
                match d.services_if_changed(known.as_deref()).await {
                    Ok(Listing::Unchanged) => match before {
                        None => services = Some(Live::AsRevision),
                        Some(before) => {
                            // As this kind of site compares them (a copy only
                            // for kinds that rewrite definitions).
                            let canonical = before
                                .as_ref()
                                .as_ref()
                                .ok()
                                .and_then(|b| d.canonical_set(b));
                            services = Some(match canonical {
                                Some(own) => Live::Listed(own),
                                None => Live::AsBefore(before.clone()),
                            });
                            etag = known.clone();
                        }
                    },
                    Ok(Listing::Full {
                        services: s,
                        etag: tag,
                    }) => {
                        services = Some(Live::Listed(s));
                        etag = tag;
                    }
                    Err(e) => fail(&mut report, e),
                }
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
    }
}

/// Health, mode, epoch and version of every site (no services), as the
/// CLI's dry run and status see them.
pub async fn observe_sites(
    client: &Client,
    namespace: &str,
    spec: &crate::api::SiteHAPairSpec,
) -> Vec<SiteReport> {
    let timeout = duration::parse("healthCheck.timeout", &spec.health_check.timeout)
        .unwrap_or(Duration::from_secs(2));
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

/// The drivers built this trip, by site name, for the promotion to reuse
/// (their Secrets were read once).
pub type Drivers = BTreeMap<String, SiteDriver>;

fn drivers_of(observed: &[Observed]) -> Drivers {
    observed
        .iter()
        .filter_map(|o| Some((o.spec_name.clone(), o.driver.as_ref().ok()?.clone())))
        .collect()
}

/// What one sync trip gives back: what it saw and did, the drivers it
/// built, and, under spec.sync.strategy ShiftTraffic, the active site's
/// change left to the standby-first procedure.
pub struct Trip {
    pub report: SyncReport,
    pub drivers: Drivers,
    pub active_work: Option<ActiveWork>,
}

/// Observe the sites and, when `sync` is true and a source is set, sync
/// them; `status` (planned for this trip) says which site is active, which
/// revision each holds and which are joining.
pub async fn sync_trip(
    ctx: &Context,
    secrets: &TripSecrets<'_>,
    obj: &SiteHAPair,
    status: &crate::api::SiteHAPairStatus,
    sync: bool,
    refresh: Option<std::time::SystemTime>,
) -> Trip {
    let active = status.active_site.as_deref();
    let joining: std::collections::BTreeSet<String> = status
        .sites
        .iter()
        .filter(|s| s.joining == Some(true))
        .map(|s| s.name.clone())
        .collect();
    let synced: BTreeMap<String, String> = status
        .sites
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.synced_revision.clone()?)))
        .collect();
    let (synced, joining) = (&synced, &joining);
    let spec = &obj.spec;
    let health_timeout = duration::parse("healthCheck.timeout", &spec.health_check.timeout)
        .unwrap_or(Duration::from_secs(2));
    let git = spec.source.as_ref().map(|s| &s.git).filter(|_| sync);

    // The source first: a bad source means no site is written.
    let snapshot: Option<Result<Snapshot, Unread>> = match git {
        None => None,
        Some(g) => Some(fetch(ctx, secrets, g, refresh).await),
    };
    let want_services = matches!(&snapshot, Some(Ok(s)) if s.services.is_ok());
    let pair_key = super::PairKey::of(obj);
    let desired_key = match (&snapshot, git) {
        (Some(Ok(s)), Some(g)) => listing_key(g, &s.revision),
        _ => String::new(),
    };
    // The revision before, as its listings were remembered: after a push,
    // a site unchanged since it matched that revision need not be read.
    let before = match (&snapshot, git) {
        (Some(Ok(s)), Some(g)) => s
            .previous
            .as_ref()
            .filter(|(_, services)| services.is_ok())
            .map(|(revision, services)| (listing_key(g, revision), services)),
        _ => None,
    };
    let listings = ListingKeys {
        memo: &ctx.listings,
        pair: &pair_key,
        desired: &desired_key,
    };
    // GET /info once a minute at rest; on every trip while a promotion is
    // pending or running (its preflight compares versions and token keys).
    let promoting =
        status.promotion.is_some() || status.active_site.as_deref() != Some(&spec.active_site);
    let now = std::time::Instant::now();
    let observed = join_all(spec.sites.iter().map(|s| {
        let with_info = promoting || ctx.listings.info_due(&pair_key, &s.name, now);
        let ask = match want_services {
            false => Ask::NoServices,
            true => ask_services(&listings, &s.name, before.as_ref()),
        };
        observe(
            secrets,
            &ctx.site_clients,
            s,
            &spec.health_check.path,
            health_timeout,
            ask,
            with_info,
        )
    }))
    .await;
    for o in observed.iter().filter(|o| o.read_info) {
        ctx.listings.info_was_read(&pair_key, &o.spec_name, now);
    }
    forget_refused_credentials(secrets, spec, &observed);
    let drivers = drivers_of(&observed);

    let source = match &snapshot {
        None => SourceReport::Skipped,
        Some(Err(Unread::Failed(message))) => SourceReport::Failed {
            message: message.clone(),
        },
        Some(Err(Unread::Refused(message))) => SourceReport::Refused {
            message: message.clone(),
        },
        Some(Ok(s)) => match s.services.as_ref() {
            Err(e) => SourceReport::Invalid {
                revision: s.revision.clone(),
                message: e.to_string(),
            },
            Ok(_) => SourceReport::Fetched {
                revision: s.revision.clone(),
                fetched_at: rfc3339(s.checked_wall),
            },
        },
    };
    let desired = match &snapshot {
        Some(Ok(s)) => Some((s.revision.clone(), s.services.clone())),
        _ => None,
    };
    let Some((revision, services)) = desired.filter(|(_, d)| d.is_ok()) else {
        let report = SyncReport {
            source,
            sites: observed.into_iter().map(|o| o.report).collect(),
            gate: None,
        };
        return Trip {
            report,
            drivers,
            active_work: None,
        };
    };
    let empty = ServiceSet::new();
    let desired = services.as_ref().as_ref().unwrap_or(&empty);

    let approved = obj
        .annotations()
        .get(ANNOTATION_APPROVE_PRUNE)
        .map(String::as_str);
    let target = Target {
        revision: &revision,
        desired,
        spec,
        synced,
        joining,
        approved,
        listings: &listings,
    };
    let (actives, passives): (Vec<Observed>, Vec<Observed>) = observed
        .into_iter()
        .partition(|o| Some(o.spec_name.as_str()) == active);

    // Passive sites first.
    let mut reports = Vec::new();
    let mut outcomes = Vec::new();
    for mut o in passives {
        if !ctx.is_leader() {
            o.report.error = Some("not the leader any more: nothing written".into());
            reports.push(o.report);
            continue;
        }
        let outcome = sync_one(&mut o, &target).await;
        if outcome.error.is_none() && !o.report.wrote.is_empty() {
            // The health check after the apply decides whether the active may follow.
            if let Ok(d) = &o.driver {
                let h = tokio::time::timeout(health_timeout, d.health()).await;
                o.report.healthy = Some(matches!(h, Ok(Ok(true))));
            }
        }
        outcomes.push(PassiveOutcome {
            healthy: o.report.healthy == Some(true),
            ..outcome
        });
        reports.push(o.report);
    }

    // Then the active, only through the gate. The gate is reported only
    // when it held something back. Under ShiftTraffic (or while such a
    // change is under way) the active's writes are left to the
    // standby-first procedure, which moves traffic first.
    let gate = active_gate(&outcomes, &revision).err();
    let shift = spec.sync.strategy == SyncStrategy::ShiftTraffic || status.active_change.is_some();
    let mut held_back = false;
    let mut active_work = None;
    for mut o in actives {
        if gate.is_none() && ctx.is_leader() && !shift {
            sync_one(&mut o, &target).await;
        } else {
            let own = desired_for(&o.driver, desired);
            let desired = own.as_ref().unwrap_or(desired);
            if let Some(live) = live_of(&o.services, desired) {
                let view = SiteView {
                    name: &o.spec_name,
                    live,
                    synced_revision: synced.get(&o.spec_name).map(String::as_str),
                    joining: joining.contains(&o.spec_name),
                };
                let p = plan_site(&view, desired, &revision, &spec.sync, approved);
                o.report.drift = Some(drift_of(&p.drift));
                held_back |= !p.apply.is_empty();
                listings.settle(&o, p.drift.is_empty());
            }
        }
        reports.push(o.report.clone());
        if shift && ctx.is_leader() {
            let candidates = outcomes
                .iter()
                .filter(|p| {
                    p.error.is_none()
                        && p.healthy
                        && p.synced_revision.as_deref() == Some(revision.as_str())
                        && !joining.contains(&p.name)
                })
                .map(|p| p.name.clone())
                .collect();
            active_work = Some(ActiveWork {
                work: held_back,
                gate_open: gate.is_none(),
                candidates,
                observed: o,
                revision: revision.clone(),
                services: services.clone(),
                synced: synced.clone(),
                joining: joining.clone(),
                approved: approved.map(str::to_string),
                health_timeout,
                pair_key: pair_key.clone(),
                desired_key: desired_key.clone(),
            });
        }
    }
    // Keep the spec's order of sites.
    reports.sort_by_key(|r| spec.sites.iter().position(|s| s.name == r.name));
    let report = SyncReport {
        source,
        sites: reports,
        gate: gate.filter(|_| held_back),
    };
    Trip {
        report,
        drivers,
        active_work,
    }
}

/// Why the source gave no snapshot.
enum Unread {
    /// The operator does not read this source at all.
    Refused(String),
    /// Reading it failed.
    Failed(String),
}

/// Snapshot through the shared cache, as a message on failure. A URL the
/// operator does not read is refused before any Secret or repository is
/// touched.
async fn fetch(
    ctx: &Context,
    secrets: &TripSecrets<'_>,
    git: &GitSource,
    refresh: Option<std::time::SystemTime>,
) -> Result<Snapshot, Unread> {
    check_source_url(&git.url, ctx.allow_file_sources)
        .map_err(|e| Unread::Refused(e.to_string()))?;
    let (key, creds) = source_key(secrets, git).await.map_err(Unread::Failed)?;
    let interval =
        duration::parse("source.git.interval", &git.interval).unwrap_or(Duration::from_secs(60));
    let snapshot = ctx
        .source
        .snapshot(&key, creds, &git.path, interval, refresh)
        .await;
    if let (Err(SourceError::Git(GitError::Auth { .. } | GitError::HostKey { .. })), Some(s)) =
        (&snapshot, &git.secret_ref)
    {
        // Refused credentials: read the Secret afresh next time.
        secrets.store().invalidate(secrets.namespace(), &s.name);
    }
    snapshot.map_err(|e| Unread::Failed(e.to_string()))
}

/// A site that refused its credentials gets them read afresh next time
/// (the watch may be behind a rotation).
fn forget_refused_credentials(
    secrets: &TripSecrets<'_>,
    spec: &crate::api::SiteHAPairSpec,
    observed: &[Observed],
) {
    for o in observed {
        if o.report.contact != SiteContact::CredentialsRefused {
            continue;
        }
        if let Some(site) = spec.sites.iter().find(|s| s.name == o.spec_name) {
            let store = secrets.store();
            store.invalidate(secrets.namespace(), &site.credentials_secret_ref.name);
            if let Some(ca) = &site.ca_secret_ref {
                store.invalidate(secrets.namespace(), &ca.name);
            }
        }
    }
}

/// Plan and write one site; fills its report and says how it came out.
pub(super) async fn sync_one(o: &mut Observed, t: &Target<'_>) -> PassiveOutcome {
    let name = o.spec_name.clone();
    let mut outcome = PassiveOutcome {
        name: name.clone(),
        error: o.report.error.clone(),
        synced_revision: None,
        healthy: false,
        hold: None,
    };
    let own = desired_for(&o.driver, t.desired);
    let desired = own.as_ref().unwrap_or(t.desired);
    let live = live_of(&o.services, desired);
    let (Ok(driver), Some(live), None) = (&o.driver, live, &o.report.error) else {
        if outcome.error.is_none() {
            outcome.error = Some(format!("site {name}: not observed"));
        }
        t.listings.memo.unknown(t.listings.pair, &name);
        return outcome;
    };
    let view = SiteView {
        name: &name,
        live,
        synced_revision: t.synced.get(&name).map(String::as_str),
        joining: t.joining.contains(&name),
    };
    let plan = plan_site(&view, desired, t.revision, &t.spec.sync, t.approved);
    let hold = plan.hold.as_ref().map(|h| h.message());
    o.report.hold = hold.clone();
    o.report.prune_blocked = matches!(plan.hold, Some(crate::plan::sync::Hold::Prune(_)));
    outcome.hold = hold;
    let written = write(driver, &plan, desired).await;
    let (wrote, err) = match written {
        Ok(w) => (w, None),
        Err((w, e)) => (w, Some(e)),
    };
    let left = subtract(&plan.drift, &wrote);
    o.report.drift = Some(drift_of(&left));
    o.report.wrote = wrote;
    if let Some(e) = err {
        o.report.contact = e.contact();
        o.report.error = Some(e.to_string());
        outcome.error = Some(e.to_string());
        t.listings.settle(o, false);
        return outcome;
    }
    t.listings.settle(o, plan.drift.is_empty());
    if plan.reaches_revision() {
        o.report.synced_revision = Some(t.revision.to_string());
        outcome.synced_revision = Some(t.revision.to_string());
    } else {
        outcome.synced_revision = view.synced_revision.map(str::to_string);
    }
    outcome
}

/// Write `plan.apply`: puts first, then deletes. Stops at the first failure,
/// returning what was written so far.
async fn write(
    site: &SiteDriver,
    plan: &SitePlan,
    desired: &ServiceSet,
) -> Result<SiteDiff, (SiteDiff, SiteError)> {
    let mut done = SiteDiff::default();
    for (names, out) in [(&plan.apply.create, 0usize), (&plan.apply.replace, 1usize)] {
        for n in names {
            let def = desired.get(n).cloned().unwrap_or(Value::Null);
            if let Err(e) = site.put_service(n, &def).await {
                return Err((done, e));
            }
            if out == 0 {
                done.create.push(n.clone());
            } else {
                done.replace.push(n.clone());
            }
        }
    }
    for n in &plan.apply.delete {
        if let Err(e) = site.delete_service(n).await {
            return Err((done, e));
        }
        done.delete.push(n.clone());
    }
    Ok(done)
}

/// `drift` without what was written.
fn subtract(drift: &SiteDiff, wrote: &SiteDiff) -> SiteDiff {
    let minus = |a: &Vec<String>, b: &Vec<String>| -> Vec<String> {
        let b: std::collections::HashSet<&String> = b.iter().collect();
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    };
    SiteDiff {
        create: minus(&drift.create, &wrote.create),
        replace: minus(&drift.replace, &wrote.replace),
        delete: minus(&drift.delete, &wrote.delete),
    }
}

/// A wall-clock time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
fn rfc3339(t: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .ok()
        .and_then(|t| t.round(jiff::Unit::Second).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}
