//! Writing one site: plan its services against the revision (pure), put
//! and delete what the plan says, and record what was written and what
//! drift is left.

use std::collections::BTreeMap;

use serde_json::Value;

use super::keys::ListingKeys;
use super::observe::{Observed, desired_for, digests_of, live_of};
use crate::plan::diff::{ServiceSet, SiteDiff};
use crate::plan::overlay::SourceSet;
use crate::plan::sync::{PassiveOutcome, SitePlan, SiteView, plan_site_by_digest};
use crate::plan::sync_status::drift_of;
use crate::sites::{Site, SiteDriver, SiteError};

/// What one trip syncs the sites to, and what it knows of them.
pub(crate) struct Target<'a> {
    pub(crate) revision: &'a str,
    /// The revision's services: the base and each site's overlays merged.
    pub(crate) desired: &'a SourceSet,
    pub(crate) spec: &'a crate::api::SiteHAPairSpec,
    /// The revision each site last held in full (status).
    pub(crate) synced: &'a BTreeMap<String, String>,
    pub(crate) joining: &'a std::collections::BTreeSet<String>,
    pub(crate) approved: Option<&'a str>,
    /// The revision the adoption annotation accepts, if any.
    pub(crate) adoption_approved: Option<&'a str>,
    /// The sync's change window is closed: why, until when.
    pub(crate) window_closed: Option<&'a str>,
    pub(crate) listings: &'a ListingKeys<'a>,
}

/// Plan and write one site; fills its report and says how it came out.
pub(crate) async fn sync_one(o: &mut Observed, t: &Target<'_>) -> PassiveOutcome {
    let name = o.spec_name.clone();
    let mut outcome = PassiveOutcome {
        name: name.clone(),
        error: o.report.error.clone(),
        synced_revision: None,
        healthy: false,
        hold: None,
    };
    let wanted = desired_for(&o.driver, &name, t.desired);
    let digests = digests_of(&o.services, &name, wanted.as_ref(), t.desired);
    let desired = wanted.as_ref();
    let live = live_of(&o.services, &name, desired);
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
        // A joining site has its own guard (no prune without approval).
        adopting: !t.synced.contains_key(&name) && !t.joining.contains(&name),
        adoption_approved: t.adoption_approved,
        window_closed: t.window_closed,
    };
    let plan = plan_site_by_digest(
        &view,
        desired,
        digests,
        t.revision,
        &t.spec.sync,
        t.approved,
    );
    o.report.adoption = plan.adoption(t.spec.sync.prune);
    let hold = plan.hold.as_ref().map(|h| h.message());
    o.report.hold = hold.clone();
    o.report.prune_blocked = matches!(plan.hold, Some(crate::plan::sync::Hold::Prune(_)));
    o.report.outside_window = matches!(plan.hold, Some(crate::plan::sync::Hold::OutsideWindow(_)));
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
