//! `sitehapair check`: before a pair adopts two running sites, contact
//! every site with the credentials the pair names and report what would
//! stop it (the Configuration Manager wizard's prerequisite check). The
//! shell: read the pair, probe each site, read the other pairs' claims and
//! the git folder; the judging is pure (`plan::prerequisites`, which the
//! operator's Prerequisites condition shares).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::pair_input::{LoadedPair, PairArgs, PairInputError, load};
use crate::api::{SiteContact, SiteHAPair, SiteKind, SiteSpec};
use crate::plan::claims::{ClaimIndex, PairSites};
use crate::plan::diff::{ServiceSet, diff};
use crate::plan::prerequisites::{Folder, Probe, SiteFindings, judge};
use crate::plan::prerequisites_report::{first_sync, table};
use crate::sites::{Site, SiteDriver, SiteError};

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// A checkout of the pair's repository: its folder
    /// (spec.source.git.path) is validated for the sites' kind.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// A probe's outcome from a site's answer: a refusal of the credentials
/// or of a privilege is `Refused`, anything else `Failed`.
fn probe<T>(r: &Result<T, SiteError>) -> Probe {
    match r {
        Ok(_) => Probe::Passed,
        Err(e) if e.contact() == SiteContact::CredentialsRefused => Probe::Refused(e.to_string()),
        Err(e) => Probe::Failed(e.to_string()),
    }
}

fn unread(name: &str, setup: Probe) -> SiteFindings {
    SiteFindings {
        name: name.to_string(),
        setup,
        reach: Probe::Skipped,
        credentials: Probe::Skipped,
        read: Probe::Skipped,
        write: Probe::Skipped,
        health: Probe::Skipped,
        version: None,
        token_key: None,
        mode: None,
        claimed: Vec::new(),
        services: None,
        from_git: None,
    }
}

/// Probe one site: the authenticated read first (reachable, credentials),
/// then the rest only when it answered.
async fn probe_site(name: &str, d: &SiteDriver) -> (SiteFindings, Option<&'static str>) {
    let mut f = unread(name, Probe::Passed);
    let info = d.info().await;
    match &info {
        Err(e) if e.is_unreachable() => {
            f.reach = Probe::Failed(e.to_string());
            return (f, None);
        }
        _ => f.reach = Probe::Passed,
    }
    f.credentials = probe(&info);
    if let Ok(i) = info {
        f.version = Some(i.version);
        f.token_key = i.token_key_fingerprint;
    }
    let health = d.health().await;
    f.health = match health {
        Ok(true) => Probe::Passed,
        Ok(false) => Probe::Failed(format!("{} answers unhealthy", d.health_call())),
        Err(e) => Probe::Failed(e.to_string()),
    };
    if f.credentials != Probe::Passed {
        return (f, None);
    }
    f.mode = d.mode().await.ok().map(|m| {
        let mode = match m.mode {
            crate::sites::Mode::Active => crate::api::SiteMode::Active,
            crate::sites::Mode::Passive => crate::api::SiteMode::Passive,
        };
        (mode, m.epoch)
    });
    let services = d.services().await;
    f.read = probe(&services);
    f.services = services.ok().map(|s| d.canonical_set(&s).unwrap_or(s));
    let write = d.write_probe().await;
    f.write = probe(&write);
    (f, write.ok().map(|w| w.describe()))
}

/// Messages for the sites of `pair` another pair in the cluster already
/// manages (the claim the operator honours: `plan::claims`). A pair file
/// not applied yet comes after every pair there.
async fn claims(loaded: &LoadedPair) -> Result<Vec<String>, PairInputError> {
    let all: Api<SiteHAPair> = Api::all(loaded.client.clone());
    let pairs = match all.list(&ListParams::default()).await {
        Ok(l) => l.items,
        // No right to list every namespace: this one's pairs, at least.
        Err(_) => {
            Api::<SiteHAPair>::namespaced(loaded.client.clone(), &loaded.namespace)
                .list(&ListParams::default())
                .await
                .map_err(|e| PairInputError::Cluster(e.to_string()))?
                .items
        }
    };
    let key_of = |p: &SiteHAPair| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
    let created_of = |p: &SiteHAPair| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default()
    };
    let keys: Vec<(String, String)> = pairs.iter().map(|p| (key_of(p), created_of(p))).collect();
    let sites_of = |p: &SiteHAPair| -> Vec<(String, String)> {
        p.spec
            .sites
            .iter()
            .map(|s| (s.name.clone(), s.admin_url.clone()))
            .collect()
    };
    let owned: Vec<Vec<(String, String)>> = pairs.iter().map(sites_of).collect();
    let others: Vec<PairSites<'_>> = keys
        .iter()
        .zip(&owned)
        .map(|((k, c), s)| PairSites {
            key: k,
            created: c,
            sites: s.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
        })
        .collect();
    let me_key = format!("{}/{}", loaded.namespace, loaded.pair.name_any());
    // Not applied yet: later than any pair there ("~" sorts after digits).
    let me_created = loaded
        .in_cluster
        .as_ref()
        .map_or_else(|| "~".to_string(), created_of);
    let mine = sites_of(&loaded.pair);
    let me = PairSites {
        key: &me_key,
        created: &me_created,
        sites: mine.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect(),
    };
    Ok(ClaimIndex::build(&others).claimed_elsewhere(&me))
}

/// The folder of the checkout, validated for every kind among the sites.
fn folder(dir: Option<&PathBuf>, pair: &SiteHAPair) -> (Folder, Option<ServiceSet>) {
    let Some(dir) = dir else {
        return (Folder::NotGiven, None);
    };
    let path = pair
        .spec
        .source
        .as_ref()
        .map_or_else(|| ".".to_string(), |s| s.git.path.clone());
    let kinds: std::collections::BTreeSet<&str> = pair
        .spec
        .sites
        .iter()
        .map(|s| match s.kind {
            SiteKind::Contract => "Contract",
            SiteKind::ArcGisServer => "ArcGISServer",
            SiteKind::Pygeoapi => "Pygeoapi",
        })
        .collect();
    let mut messages = Vec::new();
    let mut services = 0;
    for kind in kinds {
        match super::validate::validate_folder(dir, &path, kind) {
            Ok(n) => services = n,
            Err(m) => messages.extend(m),
        }
    }
    if messages.is_empty() {
        let set = crate::source::files::read_source(dir, &path)
            .ok()
            .map(|s| s.base);
        (Folder::Valid { services }, set)
    } else {
        (Folder::Invalid { messages }, None)
    }
}

/// Exit 0: ready; 1: problems (listed, each naming the site and the fix);
/// an Err (exit 2): the check could not run (no pair, no cluster).
pub async fn run(args: CheckArgs) -> Result<ExitCode, PairInputError> {
    let loaded = load(&args.pair).await?;
    let timeout = Duration::from_secs(args.pair.timeout);
    let claimed = claims(&loaded).await?;
    let (folder, git) = folder(args.dir.as_ref(), &loaded.pair);
    let mut sites = Vec::new();
    let mut writes = Vec::new();
    for (spec, driver) in loaded.drivers(timeout).await {
        let (mut f, how) = match &driver {
            Ok(d) => {
                let (mut f, how) = probe_site(&spec.name, d).await;
                if let (Some(git), Some(live)) = (&git, &f.services) {
                    let want = d.canonical_set(git).unwrap_or_else(|| git.clone());
                    f.from_git = Some(diff(&want, live));
                }
                (f, how)
            }
            Err(why) => (unread(&spec.name, Probe::Failed(why.clone())), None),
        };
        f.claimed = claimed_for(&claimed, &spec);
        if let Some(how) = how {
            writes.push(format!("{}: {how}", spec.name));
        }
        sites.push(f);
    }
    let problems = judge(&sites, &loaded.pair.spec.active_site, &folder);
    print!("{}", table(&sites));
    for w in &writes {
        println!("write probe of {w}");
    }
    match &folder {
        Folder::NotGiven => println!("git folder: not checked (no --dir)"),
        Folder::Valid { services } => println!("git folder: valid, {services} services"),
        Folder::Invalid { .. } => println!("git folder: INVALID"),
    }
    for line in first_sync(&sites) {
        println!("{line}");
    }
    if problems.is_empty() {
        println!("ready: every site answered as the pair needs");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} problems:", problems.len());
    for p in &problems {
        println!("- {p}");
    }
    Ok(ExitCode::from(1))
}

/// The claim messages that name this site.
fn claimed_for(claimed: &[String], spec: &SiteSpec) -> Vec<String> {
    let prefix = format!("site {} (", spec.name);
    claimed
        .iter()
        .filter(|m| m.starts_with(&prefix))
        .cloned()
        .collect()
}
