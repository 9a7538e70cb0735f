//! Whether two running sites are ready to be put under a pair, pure: what
//! was found on each site (and in the git folder) in, the problems out,
//! each naming the site and the fix. `sitehapair check` gathers the
//! findings by probing the sites; the operator judges a new pair's first
//! observations the same way (`from_rows`, the Prerequisites condition).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use thiserror::Error;

use crate::api::{SiteContact, SiteHealth, SiteMode, SiteStatus};
use crate::plan::diff::SiteDiff;

/// The outcome of one probe of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Passed,
    /// The site answered no (credentials or privilege refused).
    Refused(String),
    /// It could not be done (no answer, an error answer, a bad Secret).
    Failed(String),
    /// Not tried: an earlier probe failed.
    Skipped,
}

impl Probe {
    pub fn cell(&self) -> &'static str {
        match self {
            Probe::Passed => "yes",
            Probe::Refused(_) => "REFUSED",
            Probe::Failed(_) => "NO",
            Probe::Skipped => "-",
        }
    }
}

/// What was found on one site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteFindings {
    pub name: String,
    /// The Secret could be read and the driver made (else why not).
    pub setup: Probe,
    /// The admin API answered at all.
    pub reach: Probe,
    /// An authenticated read was accepted.
    pub credentials: Probe,
    /// The service listing was read.
    pub read: Probe,
    /// The write probe (what it was: `sites::survey::WriteProbe`).
    pub write: Probe,
    pub health: Probe,
    pub version: Option<String>,
    pub token_key: Option<String>,
    /// The mode and epoch the site reports (Active or Passive).
    pub mode: Option<(SiteMode, i64)>,
    /// Messages naming the pair that already manages this site.
    pub claimed: Vec<String>,
    /// Its services in the kind's canonical form, when read.
    pub services: Option<BTreeMap<String, Value>>,
    /// What the first sync from the git folder would write here, when
    /// the folder was given, valid, and the services read.
    pub from_git: Option<SiteDiff>,
}

/// What the git folder (`--dir`) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    NotGiven,
    Valid { services: usize },
    Invalid { messages: Vec<String> },
}

/// A reason the sites are not ready to be adopted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error(
        "site {site}: its credentials could not be read: {why}; fix: create the Secret the pair names (spec.sites[].credentialsSecretRef)"
    )]
    NoCredentials { site: String, why: String },
    #[error(
        "site {site}: unreachable: {why}; fix: check spec.sites[].adminUrl, that the site runs, and the network from here"
    )]
    Unreachable { site: String, why: String },
    #[error(
        "site {site}: the credentials were refused; fix: put the site's admin token (or account) into its Secret"
    )]
    CredentialsRefused { site: String },
    #[error("site {site}: answered with an error: {why}; fix: look at the site's own log")]
    Failing { site: String, why: String },
    #[error(
        "site {site}: the account may not {what}: {why}; fix: give the account the site's administrator role"
    )]
    NotPrivileged {
        site: String,
        what: String,
        why: String,
    },
    #[error(
        "site {site}: the health check does not answer healthy: {why}; fix: check spec.healthCheck.path (or the site's healthCheckUrl) and the site's health"
    )]
    Unhealthy { site: String, why: String },
    #[error(
        "the sites run different versions ({found}); fix: upgrade them to one version before adopting them"
    )]
    VersionMismatch { found: String },
    #[error(
        "the sites hold different token keys ({found}); fix: give every site the same shared token key, so that tokens work on either"
    )]
    TokenKeyMismatch { found: String },
    #[error(
        "sites {sites} are all active; fix: demote all but one (the operator would keep the highest epoch and demote the others) and set spec.activeSite to the one kept"
    )]
    TwoActive { sites: String },
    #[error(
        "site {site} is active (epoch {epoch}) but spec.activeSite is {wanted}; fix: set spec.activeSite: {site}, or adopting the pair promotes {wanted} at once"
    )]
    ActiveElsewhere {
        site: String,
        epoch: i64,
        wanted: String,
    },
    #[error("{message}")]
    Claimed { site: String, message: String },
    #[error(
        "site {site} differs from {reference}: {only_reference} only on {reference}, {only_site} only on {site}, {changed} different; fix: make them equal first (export {reference}, and let the first sync write {site}), or expect that sync"
    )]
    ServicesDiffer {
        site: String,
        reference: String,
        only_reference: String,
        only_site: String,
        changed: String,
    },
    #[error(
        "the git folder is not valid for these sites: {messages}; fix: `sitehapair validate` the folder and correct the files it names"
    )]
    FolderInvalid { messages: String },
}

fn names(set: &BTreeSet<&String>) -> String {
    if set.is_empty() {
        return "0".into();
    }
    let list: Vec<&str> = set.iter().take(10).map(|s| s.as_str()).collect();
    let more = if set.len() > 10 { ", ..." } else { "" };
    format!("{} ({}{more})", set.len(), list.join(", "))
}

/// The problems of one site on its own.
fn site_problems(s: &SiteFindings) -> Vec<Problem> {
    let site = s.name.clone();
    let mut out = Vec::new();
    if let Probe::Failed(why) | Probe::Refused(why) = &s.setup {
        out.push(Problem::NoCredentials {
            site,
            why: why.clone(),
        });
        return out;
    }
    if let Probe::Failed(why) = &s.reach {
        out.push(Problem::Unreachable {
            site,
            why: why.clone(),
        });
        return out;
    }
    match &s.credentials {
        Probe::Refused(_) => out.push(Problem::CredentialsRefused { site: site.clone() }),
        Probe::Failed(why) => out.push(Problem::Failing {
            site: site.clone(),
            why: why.clone(),
        }),
        _ => {}
    }
    for (probe, what) in [(&s.read, "list the services"), (&s.write, "write")] {
        match probe {
            Probe::Refused(why) => out.push(Problem::NotPrivileged {
                site: site.clone(),
                what: what.into(),
                why: why.clone(),
            }),
            Probe::Failed(why) => out.push(Problem::Failing {
                site: site.clone(),
                why: why.clone(),
            }),
            _ => {}
        }
    }
    if let Probe::Failed(why) | Probe::Refused(why) = &s.health {
        out.push(Problem::Unhealthy {
            site: site.clone(),
            why: why.clone(),
        });
    }
    out.extend(s.claimed.iter().map(|m| Problem::Claimed {
        site: site.clone(),
        message: m.clone(),
    }));
    out
}

/// Values that differ across sites, as `site=value` pairs, when more
/// than one distinct value is known.
fn disagreement(
    sites: &[SiteFindings],
    pick: impl Fn(&SiteFindings) -> Option<&String>,
) -> Option<String> {
    let known: Vec<(&str, &String)> = sites
        .iter()
        .filter_map(|s| Some((s.name.as_str(), pick(s)?)))
        .collect();
    let distinct: BTreeSet<&String> = known.iter().map(|(_, v)| *v).collect();
    (distinct.len() > 1).then(|| {
        known
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Every problem, site by site, then across the sites. `spec_active` is
/// the pair's spec.activeSite: the reference for the service difference.
pub fn judge(sites: &[SiteFindings], spec_active: &str, folder: &Folder) -> Vec<Problem> {
    let mut out: Vec<Problem> = sites.iter().flat_map(site_problems).collect();
    if let Some(found) = disagreement(sites, |s| s.version.as_ref()) {
        out.push(Problem::VersionMismatch { found });
    }
    if let Some(found) = disagreement(sites, |s| s.token_key.as_ref()) {
        out.push(Problem::TokenKeyMismatch { found });
    }
    let active: Vec<(&str, i64)> = sites
        .iter()
        .filter_map(|s| {
            s.mode
                .filter(|(m, _)| *m == SiteMode::Active)
                .map(|(_, epoch)| (s.name.as_str(), epoch))
        })
        .collect();
    match active.as_slice() {
        [] => {}
        [(site, epoch)] if *site != spec_active => out.push(Problem::ActiveElsewhere {
            site: site.to_string(),
            epoch: *epoch,
            wanted: spec_active.to_string(),
        }),
        [_] => {}
        many => out.push(Problem::TwoActive {
            sites: many
                .iter()
                .map(|(s, e)| format!("{s} (epoch {e})"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
    out.extend(service_differences(sites, spec_active));
    if let Folder::Invalid { messages } = folder {
        out.push(Problem::FolderInvalid {
            messages: messages.join("; "),
        });
    }
    out
}

/// Each site whose services differ from the reference site's (the
/// spec's active site, else the first site read).
fn service_differences(sites: &[SiteFindings], spec_active: &str) -> Vec<Problem> {
    let read: Vec<(&str, &BTreeMap<String, Value>)> = sites
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.services.as_ref()?)))
        .collect();
    let Some((reference, theirs)) = read
        .iter()
        .find(|(n, _)| *n == spec_active)
        .or_else(|| read.first())
        .copied()
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (site, mine) in read.iter().filter(|(n, _)| *n != reference) {
        let only_reference: BTreeSet<&String> =
            theirs.keys().filter(|k| !mine.contains_key(*k)).collect();
        let only_site: BTreeSet<&String> =
            mine.keys().filter(|k| !theirs.contains_key(*k)).collect();
        let changed: BTreeSet<&String> = theirs
            .iter()
            .filter(|(k, v)| mine.get(*k).is_some_and(|m| m != *v))
            .map(|(k, _)| k)
            .collect();
        if only_reference.is_empty() && only_site.is_empty() && changed.is_empty() {
            continue;
        }
        out.push(Problem::ServicesDiffer {
            site: site.to_string(),
            reference: reference.to_string(),
            only_reference: names(&only_reference),
            only_site: names(&only_site),
            changed: names(&changed),
        });
    }
    out
}

/// The operator's own observations of a new pair's sites as findings:
/// this trip's status rows (how the admin API answered, the health check,
/// mode and epoch, version, token key). What only `sitehapair check`
/// probes (a harmless write, the services of one site against another)
/// is left out; a site not observed yet is all Skipped. Claims are the
/// caller's: the operator finds them before it observes any site.
pub fn from_rows(rows: &[SiteStatus]) -> Vec<SiteFindings> {
    rows.iter().map(from_row).collect()
}

fn from_row(row: &SiteStatus) -> SiteFindings {
    let why = || row.message.clone().unwrap_or_default();
    let mut f = SiteFindings {
        name: row.name.clone(),
        setup: Probe::Passed,
        reach: Probe::Passed,
        credentials: Probe::Passed,
        read: Probe::Skipped,
        write: Probe::Skipped,
        health: Probe::Skipped,
        version: row.version.clone(),
        token_key: row.token_key_fingerprint.clone(),
        mode: None,
        claimed: Vec::new(),
        services: None,
        from_git: None,
    };
    match row.contact {
        None => {
            f.setup = Probe::Skipped;
            f.reach = Probe::Skipped;
            f.credentials = Probe::Skipped;
            return f;
        }
        Some(SiteContact::Misconfigured) => f.setup = Probe::Failed(why()),
        Some(SiteContact::NoAnswer) => f.reach = Probe::Failed(why()),
        Some(SiteContact::CredentialsRefused) => f.credentials = Probe::Refused(why()),
        Some(SiteContact::Failing) => f.credentials = Probe::Failed(why()),
        Some(SiteContact::Answered | SiteContact::Fenced | SiteContact::NotServing) => {}
    }
    f.health = match row.health {
        Some(SiteHealth::Healthy) => Probe::Passed,
        Some(SiteHealth::Unhealthy) => Probe::Failed("it answers unhealthy".into()),
        Some(SiteHealth::Unreachable) => Probe::Failed("it does not answer".into()),
        None => Probe::Skipped,
    };
    f.mode = match row.mode {
        Some(m @ (SiteMode::Active | SiteMode::Passive)) => Some((m, row.epoch.unwrap_or(0))),
        _ => None,
    };
    f
}

#[cfg(test)]
#[path = "prerequisites_tests.rs"]
mod tests;
