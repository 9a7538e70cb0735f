//! `sitehapair diff`: what merging a checkout would change on each live site
//! of a pair. Reads the pair file and the checkout's service files, reaches
//! the sites with the tokens from their Secrets in the cluster, and prints a
//! unified diff per site (against the base with that site's overlays
//! merged) with secret values masked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kube::ResourceExt;

use crate::api::SiteHAPair;
use crate::controller::secrets::{SecretStore, TripSecrets};
use crate::controller::site_drivers::{SiteClients, site_driver};
use crate::plan::diff::{diff, render_site_diff};
use crate::sites::Site;
use crate::source::files::read_source;
use crate::source::overlays::check_overlay_sites;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The pair's YAML file (as applied with kubectl).
    #[arg(long)]
    pub pair: PathBuf,
    /// The repository checkout to compare (its root).
    #[arg(long)]
    pub checkout: PathBuf,
    /// Namespace of the pair's Secrets (default: the file's, else the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Timeout of each call to a site, in seconds.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
}

/// Exit 0: no site would change; 1: some would; 2 (an Err): could not tell.
pub async fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.pair)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.pair.display()))?;
    let pair: SiteHAPair = serde_yaml_ng::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a SiteHAPair: {e}", args.pair.display()))?;
    let path = pair
        .spec
        .source
        .as_ref()
        .map_or_else(|| ".".to_string(), |s| s.git.path.clone());
    let sites: Vec<&str> = pair.spec.sites.iter().map(|s| s.name.as_str()).collect();
    let source = read_source(&args.checkout, &path)
        .and_then(|set| check_overlay_sites(&set, &sites).map(|()| set))
        .map_err(|e| anyhow::anyhow!("the checkout is invalid: {e}"))?;
    let client = kube::Client::try_default().await?;
    let namespace = args
        .namespace
        .clone()
        .or_else(|| pair.namespace())
        .unwrap_or_else(|| client.default_namespace().to_string());
    let mut changes = false;
    let store = SecretStore::unwatched(client.clone());
    let secrets = TripSecrets::new(&store, &namespace);
    let clients = SiteClients::in_cluster(client.clone());
    for site in &pair.spec.sites {
        let health = &pair.spec.health_check.path;
        let driver = site_driver(
            &secrets,
            &clients,
            site,
            health,
            Duration::from_secs(args.timeout),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
        let live = driver.services().await?;
        // As the operator compares them: the base with this site's
        // overlays merged, in the site kind's canonical form.
        let merged = source.for_site(&site.name);
        let own = driver.canonical_set(merged);
        let desired = own.as_ref().unwrap_or(merged);
        let d = diff(desired, &live);
        println!(
            "=== site {}: {} to create, {} to replace, {} to delete",
            site.name,
            d.create.len(),
            d.replace.len(),
            d.delete.len()
        );
        if !d.is_empty() {
            changes = true;
            print!("{}", render_site_diff(&site.name, &d, &live, desired));
        }
    }
    Ok(if changes {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
