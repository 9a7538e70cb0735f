//! The sync step, the I/O half: take the source snapshot from the shared
//! cache, observe every site (health, mode, services), then carry out the
//! pure plan: passive sites first, their health checked after the apply,
//! the active site only when the gate opens (or, under ShiftTraffic, left
//! to the standby-first change). Everything it saw and did comes back as a
//! `SyncReport`, with the drivers it built for the promotion to reuse.

mod fetch;
mod keys;
mod observe;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kube::ResourceExt;

use crate::api::{
    ANNOTATION_APPROVE_ADOPTION, ANNOTATION_APPROVE_PRUNE, ANNOTATION_WINDOW_OVERRIDE, SiteHAPair,
    SiteHAPairStatus, SyncStrategy,
};
use crate::controller::secrets::TripSecrets;
use crate::controller::{Context, PairKey};
use crate::plan::overlay::SourceSet;
use crate::plan::schedule::{list_every_site, promotion_pending};
use crate::plan::spec_check::SpecTimes;
use crate::plan::sync::{PassiveOutcome, SiteView, active_gate, plan_site_by_digest};
use crate::plan::sync_status::{SiteReport, SourceReport, SyncReport, drift_of};
use crate::sites::{Site, SiteDriver};
use crate::source::cache::Snapshot;
use crate::source::files::FileError;
use crate::source::verify::Verified;

pub(crate) use keys::ListingKeys;
pub(crate) use observe::{Observed, desired_for};
pub use observe::{observe_sites, site_mode};
pub(crate) use write::{Target, sync_one};

use fetch::Unread;
use keys::{ask_services, listing_key};
use observe::Ask;

/// The drivers built this trip, by site name, for the promotion to reuse
/// (their Secrets were read once).
pub type Drivers = BTreeMap<String, SiteDriver>;

/// The active site's change, left by the sync step to the standby-first
/// procedure (spec.sync.strategy ShiftTraffic).
pub struct ActiveWork {
    /// The active site has writes to take.
    pub active_has_writes: bool,
    /// Every passive holds the revision and passed its check.
    pub gate_open: bool,
    /// Passives that may take traffic (healthy, synced, not joining).
    pub candidates: Vec<String>,
    pub(crate) observed: Observed,
    pub revision: String,
    pub services: Arc<Result<SourceSet, FileError>>,
    pub synced: BTreeMap<String, String>,
    pub joining: BTreeSet<String>,
    pub approved: Option<String>,
    pub adoption_approved: Option<String>,
    pub window_closed: Option<String>,
    pub health_timeout: Duration,
    /// spec.sync.drainTime.
    pub drain: Duration,
    /// The pair, and what its listings are matched to.
    pub pair_key: PairKey,
    pub desired_key: String,
}

/// What the sync step gives back: what it saw and did, the drivers it
/// built, and, under ShiftTraffic, the active site's change.
pub struct Synced {
    pub report: SyncReport,
    pub drivers: Drivers,
    pub active_work: Option<ActiveWork>,
    /// The good revision this trip synced to and its services (what a
    /// rehearsal compares its target with).
    pub source: Option<SourceOf>,
}

/// A good source revision and its services.
pub type SourceOf = (String, Arc<Result<SourceSet, FileError>>);

/// The trip's view of the pair the sync works from.
struct Pair<'a> {
    obj: &'a SiteHAPair,
    status: &'a SiteHAPairStatus,
    times: &'a SpecTimes,
    synced: BTreeMap<String, String>,
    joining: BTreeSet<String>,
    pair_key: PairKey,
    /// The sync's change window is closed: why and until when.
    window_closed: Option<String>,
}

/// What the trip asks of the sync step.
pub struct SyncAsk {
    /// Sync (else only observe).
    pub sync: bool,
    /// A refresh was asked for at this time (annotation or push).
    pub refresh: Option<std::time::SystemTime>,
    /// A person asked for a reconcile (the annotation, not handled yet).
    pub reconcile_asked: bool,
    /// The sync's change window is closed: why and until when (a revision
    /// the window-override annotation names syncs anyway).
    pub window_closed: Option<String>,
}

/// Observe the sites and, when asked to sync and a source is set, sync
/// them; `status` (as this trip starts) says which site is active, which
/// revision each holds and which are joining.
pub async fn sync(
    ctx: &Context,
    secrets: &TripSecrets<'_>,
    obj: &SiteHAPair,
    status: &SiteHAPairStatus,
    times: &SpecTimes,
    ask: SyncAsk,
) -> Synced {
    let SyncAsk {
        sync,
        refresh,
        reconcile_asked,
        window_closed,
    } = ask;
    let pair = Pair {
        obj,
        status,
        times,
        window_closed,
        joining: status
            .sites
            .iter()
            .filter(|s| s.joining == Some(true))
            .map(|s| s.name.clone())
            .collect(),
        synced: status
            .sites
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.synced_revision.clone()?)))
            .collect(),
        pair_key: PairKey::of(obj),
    };
    let git = obj.spec.source.as_ref().map(|s| &s.git).filter(|_| sync);
    // The source first: a bad source means no site is written.
    let snapshot: Option<Result<Snapshot, Unread>> = match git {
        None => None,
        Some(g) => {
            let fetched = fetch::fetch(ctx, secrets, g, times.git_interval, refresh).await;
            let verified = fetch::verify(secrets, g, fetched).await;
            Some(fetch::refuse_unknown_overlay_sites(verified, &obj.spec))
        }
    };
    let desired_key = match (&snapshot, git) {
        (Some(Ok(s)), Some(g)) => listing_key(g, &s.revision),
        _ => String::new(),
    };
    // GET /info is read on every trip while a promotion is pending or
    // running: its preflight compares versions and token keys.
    let promoting = promotion_pending(&obj.spec, status);
    let listings = ListingKeys {
        memo: &ctx.listings,
        pair: &pair.pair_key,
        desired: &desired_key,
        now: std::time::Instant::now(),
        every: times.git_interval.unwrap_or(times.health_interval),
        relist: list_every_site(&obj.spec, status, reconcile_asked),
    };
    let observed = observe_all(ctx, secrets, &pair, &listings, snapshot.as_ref(), promoting).await;
    forget_and_build(secrets, &pair, observed, snapshot, &listings, ctx).await
}

/// Observe every site, asking for services only when there is a good
/// revision to compare them with.
async fn observe_all(
    ctx: &Context,
    secrets: &TripSecrets<'_>,
    pair: &Pair<'_>,
    listings: &ListingKeys<'_>,
    snapshot: Option<&Result<Snapshot, Unread>>,
    promoting: bool,
) -> Vec<Observed> {
    let spec = &pair.obj.spec;
    let git = spec.source.as_ref().map(|s| &s.git);
    let want_services = matches!(snapshot, Some(Ok(s)) if usable(s));
    // The revision before, as its listings were remembered: after a push,
    // a site unchanged since it matched that revision need not be read.
    let before = match (snapshot, git) {
        (Some(Ok(s)), Some(g)) => s
            .previous
            .as_ref()
            .filter(|(_, services)| services.is_ok())
            .map(|(revision, services)| (listing_key(g, revision), services)),
        _ => None,
    };
    // GET /info once a minute at rest; on every trip while promoting.
    let now = listings.now;
    let observed = join_all(spec.sites.iter().map(|s| {
        let with_info = promoting || ctx.listings.info_due(&pair.pair_key, &s.name, now);
        let ask = match want_services {
            false => Ask::NoServices,
            true => ask_services(listings, &s.name, before.as_ref()),
        };
        observe::observe(
            secrets,
            &ctx.site_clients,
            s,
            &spec.health_check.path,
            pair.times.health_timeout,
            ask,
            with_info,
        )
    }))
    .await;
    for o in observed.iter().filter(|o| o.read_info) {
        ctx.listings
            .info_was_read(&pair.pair_key, &o.spec_name, now);
    }
    observed
}

/// Whether a snapshot may be synced: valid files, and signed by a trusted
/// key when the pair verifies.
fn usable(s: &Snapshot) -> bool {
    s.services.is_ok() && !matches!(s.verified, Verified::Refused(_))
}

/// What the source gave, as the report says it.
fn source_report(snapshot: Option<&Result<Snapshot, Unread>>) -> SourceReport {
    match snapshot {
        None => SourceReport::Skipped,
        Some(Err(Unread::Failed(message))) => SourceReport::Failed {
            message: message.clone(),
        },
        Some(Err(Unread::Refused(message))) => SourceReport::Refused {
            message: message.clone(),
        },
        Some(Ok(s)) => match (s.services.as_ref(), &s.verified) {
            // An unverified revision is refused before its files count.
            (_, Verified::Refused(message)) => SourceReport::Unverified {
                revision: s.revision.clone(),
                message: message.clone(),
            },
            (Err(e), _) => SourceReport::Invalid {
                revision: s.revision.clone(),
                message: e.to_string(),
            },
            (Ok(_), verified) => SourceReport::Fetched {
                revision: s.revision.clone(),
                fetched_at: fetch::rfc3339(s.checked_wall),
                signed_by: match verified {
                    Verified::SignedBy(key) => Some(key.clone()),
                    _ => None,
                },
            },
        },
    }
}

/// After observing: forget refused credentials, keep the drivers, and
/// write the sites when the source gave a good revision.
async fn forget_and_build(
    secrets: &TripSecrets<'_>,
    pair: &Pair<'_>,
    observed: Vec<Observed>,
    snapshot: Option<Result<Snapshot, Unread>>,
    listings: &ListingKeys<'_>,
    ctx: &Context,
) -> Synced {
    fetch::forget_refused_credentials(secrets, &pair.obj.spec, &observed);
    let drivers: Drivers = observed
        .iter()
        .filter_map(|o| Some((o.spec_name.clone(), o.driver.as_ref().ok()?.clone())))
        .collect();
    let source = source_report(snapshot.as_ref());
    let good = match snapshot {
        Some(Ok(s)) if usable(&s) => Some((s.revision, s.services)),
        _ => None,
    };
    let Some((revision, services)) = good else {
        let report = SyncReport {
            source,
            sites: observed.into_iter().map(|o| o.report).collect(),
            gate: None,
        };
        return Synced {
            report,
            drivers,
            active_work: None,
            source: None,
        };
    };
    let kept = (revision.clone(), services.clone());
    let (report, active_work) =
        write_sites(ctx, pair, observed, &revision, services, listings, source).await;
    Synced {
        report,
        drivers,
        active_work,
        source: Some(kept),
    }
}

/// Passive sites first, then the active through the gate.
async fn write_sites(
    ctx: &Context,
    pair: &Pair<'_>,
    observed: Vec<Observed>,
    revision: &str,
    services: Arc<Result<SourceSet, FileError>>,
    listings: &ListingKeys<'_>,
    source: SourceReport,
) -> (SyncReport, Option<ActiveWork>) {
    let spec = &pair.obj.spec;
    let empty = SourceSet::default();
    let desired = services.as_ref().as_ref().unwrap_or(&empty);
    let approved = pair
        .obj
        .annotations()
        .get(ANNOTATION_APPROVE_PRUNE)
        .map(String::as_str);
    let target = Target {
        revision,
        desired,
        spec,
        synced: &pair.synced,
        joining: &pair.joining,
        approved,
        adoption_approved: pair
            .obj
            .annotations()
            .get(ANNOTATION_APPROVE_ADOPTION)
            .map(String::as_str),
        window_closed: pair.window_closed.as_deref().filter(|_| {
            pair.obj
                .annotations()
                .get(ANNOTATION_WINDOW_OVERRIDE)
                .map(String::as_str)
                != Some(revision)
        }),
        listings,
    };
    let active = pair.status.active_site.as_deref();
    let (actives, passives): (Vec<Observed>, Vec<Observed>) = observed
        .into_iter()
        .partition(|o| Some(o.spec_name.as_str()) == active);
    let (mut reports, outcomes) = write_passives(ctx, pair, passives, &target).await;
    // Then the active, only through the gate. The gate is reported only
    // when it held something back.
    let gate = active_gate(&outcomes, revision).err();
    let mut held_back = false;
    let mut active_work = None;
    for o in actives {
        let (report, held, work) =
            write_active(ctx, pair, o, &target, gate.is_none(), &outcomes, &services).await;
        held_back |= held;
        reports.push(report);
        active_work = work.or(active_work);
    }
    // Keep the spec's order of sites.
    reports.sort_by_key(|r| spec.sites.iter().position(|s| s.name == r.name));
    let report = SyncReport {
        source,
        sites: reports,
        gate: gate.filter(|_| held_back),
    };
    (report, active_work)
}

/// Write every passive site; its health is checked after an apply, which
/// decides whether the active may follow.
async fn write_passives(
    ctx: &Context,
    pair: &Pair<'_>,
    passives: Vec<Observed>,
    target: &Target<'_>,
) -> (Vec<SiteReport>, Vec<PassiveOutcome>) {
    let mut reports = Vec::new();
    let mut outcomes = Vec::new();
    for mut o in passives {
        if !ctx.is_leader() {
            o.report.error = Some("not the leader any more: nothing written".into());
            reports.push(o.report);
            continue;
        }
        let outcome = sync_one(&mut o, target).await;
        if outcome.error.is_none()
            && !o.report.wrote.is_empty()
            && let Ok(d) = &o.driver
        {
            let h = tokio::time::timeout(pair.times.health_timeout, d.health()).await;
            o.report.healthy = Some(matches!(h, Ok(Ok(true))));
        }
        outcomes.push(PassiveOutcome {
            healthy: o.report.healthy == Some(true),
            ..outcome
        });
        reports.push(o.report);
    }
    (reports, outcomes)
}

/// The active site: written when the gate is open, unless its writes are
/// left to the standby-first procedure (ShiftTraffic, or such a change
/// under way), which moves traffic first; else only compared. Returns its
/// report, whether writes were held back, and the procedure's work.
async fn write_active(
    ctx: &Context,
    pair: &Pair<'_>,
    mut o: Observed,
    target: &Target<'_>,
    gate_open: bool,
    outcomes: &[PassiveOutcome],
    services: &Arc<Result<SourceSet, FileError>>,
) -> (SiteReport, bool, Option<ActiveWork>) {
    let spec = &pair.obj.spec;
    let shift =
        spec.sync.strategy == SyncStrategy::ShiftTraffic || pair.status.active_change.is_some();
    let mut held_back = false;
    if gate_open && ctx.is_leader() && !shift {
        sync_one(&mut o, target).await;
    } else {
        let wanted = desired_for(&o.driver, &o.spec_name, target.desired);
        let digests =
            observe::digests_of(&o.services, &o.spec_name, wanted.as_ref(), target.desired);
        let desired = wanted.as_ref();
        if let Some(live) = observe::live_of(&o.services, &o.spec_name, desired) {
            let view = SiteView {
                name: &o.spec_name,
                live,
                synced_revision: pair.synced.get(&o.spec_name).map(String::as_str),
                joining: pair.joining.contains(&o.spec_name),
                adopting: !pair.synced.contains_key(&o.spec_name)
                    && !pair.joining.contains(&o.spec_name),
                adoption_approved: target.adoption_approved,
                window_closed: target.window_closed,
            };
            let (revision, approved) = (target.revision, target.approved);
            let p = plan_site_by_digest(&view, desired, digests, revision, &spec.sync, approved);
            o.report.adoption = p.adoption(spec.sync.prune);
            o.report.drift = Some(drift_of(&p.drift));
            held_back = !p.apply.is_empty();
            target.listings.settle(&o, p.drift.is_empty());
        }
    }
    let report = o.report.clone();
    if !(shift && ctx.is_leader()) {
        return (report, held_back, None);
    }
    let candidates = outcomes
        .iter()
        .filter(|p| {
            p.error.is_none()
                && p.healthy
                && p.synced_revision.as_deref() == Some(target.revision)
                && !pair.joining.contains(&p.name)
        })
        .map(|p| p.name.clone())
        .collect();
    let work = ActiveWork {
        active_has_writes: held_back,
        gate_open,
        candidates,
        observed: o,
        revision: target.revision.to_string(),
        services: services.clone(),
        synced: pair.synced.clone(),
        joining: pair.joining.clone(),
        approved: target.approved.map(str::to_string),
        adoption_approved: target.adoption_approved.map(str::to_string),
        window_closed: target.window_closed.map(str::to_string),
        health_timeout: pair.times.health_timeout,
        drain: pair.times.drain,
        pair_key: pair.pair_key.clone(),
        desired_key: target.listings.desired.to_string(),
    };
    (report, held_back, Some(work))
}
