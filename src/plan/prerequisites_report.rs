//! The report of prerequisites (`sitehapair check`), pure: the findings as
//! a table, one row per site, and what the first sync from the git folder
//! would write.

use crate::api::SiteMode;
use crate::plan::prerequisites::{Probe, SiteFindings};

/// The findings as a table, one row per site.
pub fn table(sites: &[SiteFindings]) -> String {
    let head = [
        "SITE",
        "REACHABLE",
        "CREDENTIALS",
        "READ",
        "WRITE",
        "HEALTH",
        "VERSION",
        "TOKEN KEY",
        "MODE",
        "EPOCH",
        "CLAIMED",
        "SERVICES",
        "FROM GIT",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for s in sites {
        let reach = if s.setup != Probe::Passed {
            Probe::Skipped.cell()
        } else {
            s.reach.cell()
        };
        let short = |k: &Option<String>| {
            k.as_deref()
                .map_or("-".to_string(), |k| k.chars().take(12).collect())
        };
        rows.push(vec![
            s.name.clone(),
            reach.into(),
            s.credentials.cell().into(),
            s.read.cell().into(),
            s.write.cell().into(),
            s.health.cell().into(),
            s.version.clone().unwrap_or_else(|| "-".into()),
            short(&s.token_key),
            s.mode
                .map_or("-", |(m, _)| match m {
                    SiteMode::Active => "active",
                    SiteMode::Passive => "passive",
                    SiteMode::Unknown => "-",
                })
                .into(),
            s.mode.map_or("-".into(), |(_, epoch)| epoch.to_string()),
            if s.claimed.is_empty() {
                "no".into()
            } else {
                "CLAIMED".into()
            },
            s.services
                .as_ref()
                .map_or("-".into(), |m| m.len().to_string()),
            s.from_git.as_ref().map_or("-".into(), |d| {
                format!(
                    "+{} ~{} -{}",
                    d.create.len(),
                    d.replace.len(),
                    d.delete.len()
                )
            }),
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// What the first sync from the git folder would write on each site, as
/// lines for the report (not problems: a first sync may write; how it is
/// accepted is `spec.sync.adopt`).
pub fn first_sync(sites: &[SiteFindings]) -> Vec<String> {
    let list = |v: &[String]| {
        let shown: Vec<&str> = v.iter().take(10).map(String::as_str).collect();
        let more = if v.len() > 10 { ", ..." } else { "" };
        format!("{}{}", shown.join(", "), more)
    };
    sites
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.from_git.as_ref()?)))
        .map(|(site, d)| {
            if d.is_empty() {
                return format!(
                    "site {site}: equal to the git folder; the first sync writes nothing"
                );
            }
            let mut parts = Vec::new();
            for (verb, names) in [
                ("create", &d.create),
                ("replace", &d.replace),
                ("delete", &d.delete),
            ] {
                if !names.is_empty() {
                    parts.push(format!("{verb} {} ({})", names.len(), list(names)));
                }
            }
            let wait = if d.replace.is_empty() && d.delete.is_empty() {
                "it runs at once (it only creates)"
            } else {
                "with spec.sync.adopt Manual it waits for sitehapair.io/approve-adoption"
            };
            format!(
                "site {site}: the first sync would {}; {wait}",
                parts.join(", ")
            )
        })
        .collect()
}
