//! `sitehapair validate`: check the service files of a checkout as the
//! operator reads them, with the per-site overlays merged; with the pair's
//! site names (`--sites`, or `--pair` file), an overlay for another site is
//! an error too. Exit 0 when valid, 1 with file:line messages when not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::api::{SiteHAPair, SiteKind};
use crate::plan::overlay::SourceSet;
use crate::source::files::read_source;
use crate::source::overlays::check_overlay_sites;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The repository checkout (its root).
    pub dir: PathBuf,
    /// Folder of service files inside the checkout (spec.source.git.path;
    /// default: the pair file's, else the root).
    #[arg(long)]
    pub path: Option<String>,
    /// The kind of the sites the services go to (spec.sites[].kind):
    /// ArcGISServer also checks the ArcGIS name rules (Name.Type or
    /// Folder.Name.Type) and that each definition agrees with its name;
    /// Pygeoapi checks resource ids and the shape of each resource.
    #[arg(long, default_value = "Contract", value_parser = ["Contract", "ArcGISServer", "Pygeoapi"])]
    pub kind: String,
    /// The pair's site names, comma-separated: an overlay folder
    /// `.sites/<site>/` for any other site is an error.
    #[arg(long, value_delimiter = ',')]
    pub sites: Vec<String>,
    /// The pair's YAML file: its site names (as --sites) and its source path.
    #[arg(long)]
    pub pair: Option<PathBuf>,
}

/// Run the check; the exit code says whether the checkout is valid.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let pair: Option<SiteHAPair> = match &args.pair {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            Some(
                serde_yaml_ng::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: not a SiteHAPair: {e}", file.display()))?,
            )
        }
    };
    let mut sites = args.sites.clone();
    if let Some(p) = &pair {
        sites.extend(p.spec.sites.iter().map(|s| s.name.clone()));
    }
    let path = args
        .path
        .clone()
        .or_else(|| Some(pair.as_ref()?.spec.source.as_ref()?.git.path.clone()))
        .unwrap_or_else(|| ".".to_string());
    let kind: SiteKind =
        serde_json::from_value(serde_json::Value::String(args.kind.clone())).unwrap_or_default();
    let checked = read_source(&args.dir, &path).and_then(|set| {
        if !sites.is_empty() {
            let names: Vec<&str> = sites.iter().map(String::as_str).collect();
            check_overlay_sites(&set, &names)?;
        }
        Ok(set)
    });
    let set = match checked {
        Ok(set) => set,
        Err(e) => {
            println!("invalid: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let problems = kind_problems(kind, &set);
    if problems.is_empty() {
        println!(
            "valid: {} services under {path}{}",
            set.base.len(),
            overlays_line(&set)
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("invalid: {p}");
    }
    Ok(ExitCode::from(1))
}

/// The service files under `dir/path` (and their overlays) checked for
/// sites of `kind` (`Contract`, `ArcGISServer`, `Pygeoapi`), for `check`:
/// how many services, or what is wrong.
pub(crate) fn validate_folder(
    dir: &std::path::Path,
    path: &str,
    kind: &str,
) -> Result<usize, Vec<String>> {
    let kind: SiteKind =
        serde_json::from_value(serde_json::Value::String(kind.to_string())).unwrap_or_default();
    let set = read_source(dir, path).map_err(|e| vec![e.to_string()])?;
    let problems = kind_problems(kind, &set);
    if problems.is_empty() {
        Ok(set.base.len())
    } else {
        Err(problems)
    }
}

/// The kind's own rules, over the base and every site's merged set (an
/// overlay may break what the base kept).
fn kind_problems(kind: SiteKind, set: &SourceSet) -> Vec<String> {
    let check = |name: &str, def: &serde_json::Value| -> Result<(), String> {
        match kind {
            SiteKind::Contract => Ok(()),
            SiteKind::ArcGisServer => crate::sites::arcgis::normalize::check(name, def),
            SiteKind::Pygeoapi => {
                crate::sites::pygeoapi::names::check_resource(name, def).map_err(|e| e.to_string())
            }
        }
    };
    match kind {
        SiteKind::Contract => Vec::new(),
        _ => {
            let mut out: Vec<String> = Vec::new();
            for (site, services) in std::iter::once(("", &set.base))
                .chain(set.merged.iter().map(|(s, m)| (s.as_str(), m)))
            {
                for (name, def) in services {
                    if let Err(p) = check(name, def) {
                        let p = match site {
                            "" => p,
                            site => format!("{p} (with the overlay of site {site})"),
                        };
                        if !out.contains(&p) {
                            out.push(p);
                        }
                    }
                }
            }
            out
        }
    }
}

/// ", overlays for east (1), west (2)", or nothing without overlays.
fn overlays_line(set: &SourceSet) -> String {
    if set.overlay_files.is_empty() {
        return String::new();
    }
    let per: Vec<String> = set
        .overlay_files
        .iter()
        .map(|(site, files)| format!("{site} ({})", files.len()))
        .collect();
    format!(", overlays for {}", per.join(", "))
}
