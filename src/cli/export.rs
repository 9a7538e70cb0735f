//! `sitehapair export`: write one live site's services into a folder, one
//! file per service in the kind's canonical form, secret values masked,
//! and say what was left out. The start of adopting two running sites
//! (docs/runbook.md): commit the folder, `sitehapair check`, apply the pair.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use thiserror::Error;

use super::export_plan::plan;
use super::pair_input::{PairArgs, PairInputError, direct_driver, load};
use crate::api::SiteKind;
use crate::sites::{Site, SiteDriver, SiteError};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    /// The pair's site to read (with --pair or --pair-name).
    #[arg(long, conflicts_with = "admin_url")]
    pub site: Option<String>,
    /// Or the site's admin URL (with --kind and --credentials; no cluster needed).
    #[arg(long, requires = "credentials")]
    pub admin_url: Option<String>,
    /// The kind of the site named by --admin-url.
    #[arg(long, default_value = "Contract", value_parser = ["Contract", "ArcGISServer"])]
    pub kind: String,
    /// With --admin-url: a YAML file holding what the site's Secret would
    /// (`token: ...` for a Contract site; `username: ...` and `password:
    /// ...` for an ArcGISServer site).
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// With --admin-url: the PEM bundle that signs the site's certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The folder to write (created when absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a folder that is not empty: its service files
    /// (`*.json`, `*.yaml`, `*.yml` directly in it) are removed first.
    #[arg(long)]
    pub force: bool,
}

/// Why an export could not be made (exit 2).
#[derive(Debug, Error)]
pub enum ExportError {
    #[error("name the site: --site NAME with a pair, or --admin-url with --kind and --credentials")]
    NoSite,
    #[error(transparent)]
    Input(#[from] PairInputError),
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(
        "{folder} is not empty: export into an empty folder, or pass --force to replace its service files"
    )]
    NotEmpty { folder: String },
    #[error("{path}: {message}")]
    Write { path: String, message: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |e| ExportError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

async fn driver(args: &ExportArgs) -> Result<(String, SiteDriver), ExportError> {
    let timeout = Duration::from_secs(args.pair.timeout);
    if let (Some(url), Some(creds)) = (&args.admin_url, &args.credentials) {
        let kind: SiteKind = serde_json::from_value(serde_json::Value::String(args.kind.clone()))
            .unwrap_or_default();
        let d = direct_driver(url, kind, creds, args.ca.as_deref(), timeout)?;
        return Ok((crate::api::redact::redact_url(url), d));
    }
    let site = args.site.as_deref().ok_or(ExportError::NoSite)?;
    let loaded = load(&args.pair).await?;
    Ok((format!("site {site}"), loaded.driver(site, timeout).await?))
}

/// Make the folder ready: created, or empty, or (with --force) rid of its service files.
fn prepare(out: &Path, force: bool) -> Result<(), ExportError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let entries: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(io(out))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(ExportError::NotEmpty {
            folder: out.display().to_string(),
        });
    }
    for p in entries.iter().filter(|p| {
        p.is_file()
            && matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("json" | "yaml" | "yml")
            )
    }) {
        std::fs::remove_file(p).map_err(io(p))?;
    }
    Ok(())
}

/// Exit 0 when written (masked values and left-out items are listed);
/// an Err (exit 2) when the site could not be read or the folder written.
pub async fn run(args: ExportArgs) -> Result<ExitCode, ExportError> {
    let (shown, driver) = driver(&args).await?;
    // Read everything before touching the folder.
    let live = driver.services().await?;
    let live = driver.canonical_set(&live).unwrap_or(live);
    let mut left_out = driver.left_out().await?;
    let p = plan(&live);
    prepare(&args.out, args.force)?;
    for (file, text) in &p.files {
        let path = args.out.join(file);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    println!(
        "exported {} services from {shown} to {}",
        p.files.len(),
        args.out.display()
    );
    if !p.masked.is_empty() {
        println!(
            "masked {} secret values (now {}): write each back before applying; `sitehapair validate` refuses the folder until then:",
            p.masked.len(),
            crate::source::masked::PLACEHOLDER
        );
        for (service, pointer) in &p.masked {
            println!("  {service}.json {pointer}");
        }
    }
    left_out.extend(p.left_out);
    println!("left out:");
    println!(
        "  the site's role (mode and epoch; for an ArcGIS site, its role record in the cluster): \
         a pair's spec.activeSite and the operator decide it"
    );
    for l in &left_out {
        println!("  {}: {}", l.item, l.why);
    }
    Ok(ExitCode::SUCCESS)
}
