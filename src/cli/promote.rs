//! `sitehapair promote` and `sitehapair status` (also `kubectl sitehapair
//! ...` when the binary is installed as `kubectl-sitehapair`): a promotion is
//! a patch of spec.activeSite; `--wait` follows the phases in status;
//! `--dry-run` runs the pure machine on what the sites report now.

use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::api::conditions::{self, ConditionStatus, types};
use crate::api::status::AdoptionPlan;
use crate::api::{ANNOTATION_APPROVE_ADOPTION, SiteHAPair, SiteHAPairStatus, duration};
use crate::controller::sync::observe_sites;
use crate::plan::promotion::{ModeSeen, PromotionInput, Step, plan_promotion, preflight};
use crate::plan::promotion_status::observations;

/// The field manager of spec changes made by this CLI.
pub(super) const CLI_FIELD_MANAGER: &str = "sitehapair-cli";

#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// The SiteHAPair.
    pub name: String,
    /// The site to make active.
    #[arg(long)]
    pub to: String,
    /// Namespace of the pair (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Print each phase until the promotion completes.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (Go duration), exit 1 with the reason.
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// Print the preflight results and the steps; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// SITE@EPOCH: go on past this site, which answers but cannot be
    /// demoted (it is broken, and you know it). Two sites may be active
    /// while it still serves: read docs/runbook.md first. Recorded in
    /// status history and an Event with who asked (your user, as the API
    /// server names it).
    #[arg(long, value_name = "SITE@EPOCH")]
    pub force_past: Option<String>,
    /// Run it now although its change window is closed (or its
    /// spec.promotion.notBefore is ahead); recorded with who asked.
    #[arg(long)]
    pub now: bool,
    /// Why: recorded in status.history with the promotion.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Rehearse it: every step that changes no role and no traffic, then
    /// what the promotion would do and how long it would take (see
    /// status.rehearsal); with --wait, print it and exit 1 unless it passed.
    #[arg(long, conflicts_with_all = ["dry_run", "force_past", "now", "reason"])]
    pub rehearse: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The SiteHAPair.
    pub name: String,
    /// Namespace of the pair (default: the kubeconfig's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
}

pub(super) async fn pair_api(
    namespace: Option<String>,
) -> anyhow::Result<(Client, Api<SiteHAPair>, String)> {
    let client = Client::try_default().await?;
    let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    Ok((client.clone(), Api::namespaced(client, &ns), ns))
}

/// The user the API server knows this CLI as (SelfSubjectReview), or
/// "the sitehapair CLI" when it cannot tell.
pub(super) async fn who_am_i(client: &Client) -> String {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match api.create(&kube::api::PostParams::default(), &review).await {
        Ok(r) => r
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .map_or_else(|| "the sitehapair CLI".to_string(), |u| format!("user {u}")),
        Err(_) => "the sitehapair CLI".to_string(),
    }
}

/// Exit 0: done (or the dry run's preflight passes); 1: blocked or timed out.
pub async fn promote(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let (client, api, ns) = pair_api(args.namespace.clone()).await?;
    let pair = api.get(&args.name).await?;
    if !pair.spec.sites.iter().any(|s| s.name == args.to) {
        anyhow::bail!("{} has no site {}", args.name, args.to);
    }
    if args.dry_run {
        return dry_run(&client, &ns, &pair, &args.to).await;
    }
    if args.rehearse {
        return super::rehearse::rehearse(super::rehearse::Ask {
            api: &api,
            name: &args.name,
            to: &args.to,
            by: who_am_i(&client).await,
            field_manager: CLI_FIELD_MANAGER,
            wait: args.wait,
            timeout: &args.timeout,
        })
        .await;
    }
    let pp = PatchParams {
        field_manager: Some(CLI_FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let by = who_am_i(&client).await;
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        crate::api::ANNOTATION_REQUESTED_BY.into(),
        json!(format!("{} by {by}", args.to)),
    );
    annotations.insert(
        crate::api::ANNOTATION_PROMOTION_REASON.into(),
        json!(
            args.reason
                .as_deref()
                .map(|r| crate::api::redact::trim(r, 200))
        ),
    );
    // An override is for this promotion only: one left from an earlier
    // --now is removed, so that it cannot let a later one through.
    let (window, window_by) = if args.now {
        (json!(args.to), json!(format!("{} by {by}", args.to)))
    } else {
        (serde_json::Value::Null, serde_json::Value::Null)
    };
    annotations.insert(crate::api::ANNOTATION_WINDOW_OVERRIDE.into(), window);
    annotations.insert(crate::api::ANNOTATION_WINDOW_OVERRIDE_BY.into(), window_by);
    // A person's promotion is never the operator's revert.
    annotations.insert(
        crate::api::ANNOTATION_VERIFICATION_REVERT.into(),
        serde_json::Value::Null,
    );
    let mut patch =
        json!({"spec": {"activeSite": args.to}, "metadata": {"annotations": annotations}});
    if let Some(past) = &args.force_past {
        let Some(named) = crate::plan::promotion::ForcePast::parse(past, "") else {
            anyhow::bail!(
                "--force-past {past:?}: must be SITE@EPOCH, the epoch status.sites shows for the site"
            );
        };
        if !pair.spec.sites.iter().any(|s| s.name == named.site) {
            anyhow::bail!(
                "--force-past {past:?}: {} has no site {}",
                args.name,
                named.site
            );
        }
        patch["metadata"]["annotations"][crate::api::ANNOTATION_FORCE_PAST] = json!(past);
        patch["metadata"]["annotations"][crate::api::ANNOTATION_FORCE_PAST_BY] =
            json!(format!("{past} by {by}"));
        eprintln!("forcing past {past} as {by}: two sites may be active while it still serves");
    }
    api.patch(&args.name, &pp, &Patch::Merge(&patch)).await?;
    println!("{}: spec.activeSite set to {}", args.name, args.to);
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = duration::parse("--timeout", &args.timeout)?;
    // A watch sees every status write: every phase written is printed as
    // it comes, and the record lists every step at the end.
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", args.name));
    let mut events = std::pin::pin!(
        watcher(api.clone(), cfg)
            .default_backoff()
            .applied_objects()
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    let mut latest = pair.status.clone().unwrap_or_default();
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let Ok(item) = next else {
            eprintln!(
                "not complete after {}: {}",
                args.timeout,
                blocking_reason(&latest)
            );
            return Ok(ExitCode::from(1));
        };
        let obj = match item {
            Some(Ok(obj)) => obj,
            Some(Err(_)) => continue,
            None => anyhow::bail!("the watch of {} ended", args.name),
        };
        latest = obj.status.clone().unwrap_or_default();
        if latest.active_site.as_deref() == Some(args.to.as_str()) && latest.promotion.is_none() {
            // The steps taken between two status writes are not seen on
            // the watch: the record lists every one with its time.
            for line in step_lines(&latest, &args.to) {
                println!("{line}");
            }
            println!("Complete: {} is active at epoch {}", args.to, latest.epoch);
            return Ok(ExitCode::SUCCESS);
        }
        let line = progress(&latest);
        if line != last {
            println!("{line}");
            last = line;
        }
    }
}

/// The steps of the promotion that made `to` active at the status's
/// epoch, one line each, from its record.
fn step_lines(st: &SiteHAPairStatus, to: &str) -> Vec<String> {
    st.history
        .iter()
        .rev()
        .find(|r| r.to == to && r.epoch == st.epoch)
        .map(|r| {
            r.steps
                .iter()
                .map(|s| format!("  {}: {} s (from {})", s.phase, s.seconds, s.started_at))
                .collect()
        })
        .unwrap_or_default()
}

/// One line for the current state of a promotion.
fn progress(st: &SiteHAPairStatus) -> String {
    match &st.promotion {
        Some(p) => {
            let mut s = format!(
                "{}: {} -> {} at epoch {}",
                p.phase,
                p.from.as_deref().unwrap_or("-"),
                p.to,
                p.epoch
            );
            if let Some(since) = &p.silent_since {
                s.push_str(&format!(", silent since {since}"));
            }
            if let Some(d) = &p.deadline {
                s.push_str(&format!(", deadline {d}"));
            }
            if let Some(m) = &p.message {
                s.push_str(&format!(" ({m})"));
            }
            s
        }
        None => format!(
            "waiting for the operator (active: {})",
            st.active_site.as_deref().unwrap_or("-")
        ),
    }
}

fn blocking_reason(st: &SiteHAPairStatus) -> String {
    if let Some(c) = conditions::find(&st.conditions, types::PROMOTION_BLOCKED)
        && c.status == ConditionStatus::True
    {
        return c.message.clone();
    }
    st.promotion
        .as_ref()
        .and_then(|p| p.message.clone())
        .unwrap_or_else(|| "the operator has not picked up the change".into())
}

async fn dry_run(
    client: &Client,
    ns: &str,
    pair: &SiteHAPair,
    to: &str,
) -> anyhow::Result<ExitCode> {
    let mut status = pair.status.clone().unwrap_or_default();
    let reports = observe_sites(client, ns, &pair.spec).await;
    if status.sites.is_empty() {
        status.sites = pair
            .spec
            .sites
            .iter()
            .map(|s| crate::api::SiteStatus {
                name: s.name.clone(),
                ..Default::default()
            })
            .collect();
    }
    let mut sites = observations(&status, &reports);
    let source_revision = status.source.as_ref().and_then(|s| s.revision.clone());
    let contact = duration::parse("contactTimeout", &pair.spec.promotion.contact_timeout)?;
    let current = status.active_site.clone();
    let warnings = crate::plan::preflight_warnings::pair_warnings(&status, to);
    let base = PromotionInput {
        target: to,
        current: None,
        epoch: status.epoch,
        running: None,
        traffic: status.traffic_site.as_deref(),
        sites: &[],
        source_revision: source_revision.as_deref(),
        require_in_sync: pair.spec.promotion.require_in_sync,
        require_healthy: pair.spec.promotion.require_healthy,
        contact_timeout: contact,
        traffic_failover: pair.spec.traffic.failover,
        reason: crate::plan::promotion::PromotionReason::Manual,
        allow_parity_mismatch: pair
            .annotations()
            .get(crate::api::ANNOTATION_ALLOW_PARITY_MISMATCH)
            .map(String::as_str),
        settling: duration::parse("settlingTime", &pair.spec.promotion.settling_time)?,
        warnings: &warnings,
        shifted: None,
        start_wait: None,
        window_override_by: None,
        requested_by: None,
        why: None,
        force_past: None,
        now: jiff::Timestamp::now(),
    };
    let checks = preflight(&PromotionInput {
        sites: &sites,
        current: current.as_deref(),
        ..base.clone()
    });
    println!(
        "dry run: promote {} of {} to {to}; nothing is changed",
        pair.name_any(),
        ns
    );
    for w in &warnings {
        println!("warning: {w}");
    }
    if checks.is_empty() {
        println!("preflight: every check passes");
    } else {
        println!("preflight: blocked");
        for c in &checks {
            println!("  - {} ({})", c.message, c.reason.as_str());
        }
        return Ok(ExitCode::from(1));
    }
    println!("steps:");
    let (mut running, mut epoch, mut cur) = (None, status.epoch, current);
    for n in 1..=8 {
        let d = plan_promotion(&PromotionInput {
            running: running.as_ref(),
            sites: &sites,
            epoch,
            current: cur.as_deref(),
            ..base.clone()
        });
        let phase = d
            .running
            .as_ref()
            .map(|p| p.phase.to_string())
            .unwrap_or_else(|| "Complete".into());
        match &d.step {
            Some(Step::SetMode {
                site,
                active,
                epoch,
            }) => {
                let what = if *active { "active" } else { "passive" };
                println!("  {n}. {phase}: set {site} {what} at epoch {epoch}");
                if let Some(s) = sites.iter_mut().find(|s| &s.name == site) {
                    s.mode = Some(ModeSeen {
                        active: *active,
                        epoch: *epoch,
                    });
                }
            }
            Some(Step::SwitchTraffic) => println!("  {n}. {phase}: point traffic at {to}"),
            None => {
                if let Some(p) = &d.running {
                    println!("  {n}. {phase}: {}", p.message.clone().unwrap_or_default());
                }
                break;
            }
        }
        running = d.running;
        epoch = d.epoch;
        cur = d.active_site;
        if running.is_none() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A table of the sites, then the running promotion and the last ones.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (_, api, ns) = pair_api(args.namespace).await?;
    let pair = api.get(&args.name).await?;
    let st = pair.status.clone().unwrap_or_default();
    println!(
        "{}/{}: phase {}, active {}, epoch {}, revision {}",
        ns,
        args.name,
        st.phase.map(|p| p.as_str()).unwrap_or("-"),
        st.active_site.as_deref().unwrap_or("-"),
        st.epoch,
        st.source
            .as_ref()
            .and_then(|s| s.revision.as_deref())
            .map_or("-", |r| r.get(..12).unwrap_or(r))
    );
    println!(
        "traffic: {}",
        st.traffic_site.as_deref().unwrap_or("nowhere")
    );
    for line in window_lines(&pair.spec, jiff::Timestamp::now()) {
        println!("{line}");
    }
    if let Some(c) = conditions::find(&st.conditions, types::PARITY) {
        println!("parity: {:?} ({}): {}", c.status, c.reason, c.message);
    }
    println!(
        "{:<12} {:<8} {:<12} {:<19} {:>5}  {:<12} {:<12} {:<12} DRIFT(+/~/-)",
        "SITE", "MODE", "HEALTH", "CONTACT", "EPOCH", "SYNCED", "VERSION", "TOKEN KEY"
    );
    for s in &st.sites {
        let drift = s
            .drift
            .map(|d| format!("{}/{}/{}", d.added, d.changed, d.removed))
            .unwrap_or_else(|| "-".into());
        let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        // A site that reports no fingerprint is unknown, not equal.
        let key = s
            .token_key_fingerprint
            .as_deref()
            .map_or("unknown".to_string(), |k| k.chars().take(12).collect());
        println!(
            "{:<12} {:<8} {:<12} {:<19} {:>5}  {:<12} {:<12} {:<12} {}",
            s.name,
            if s.joining == Some(true) {
                "Joining".to_string()
            } else {
                show(s.mode.map(|m| format!("{m:?}")))
            },
            show(s.health.map(|h| format!("{h:?}"))),
            show(s.contact.map(|c| c.as_str().to_string())),
            s.epoch.map_or("-".into(), |e| e.to_string()),
            s.synced_revision
                .as_deref()
                .map_or("-", |r| r.get(..12).unwrap_or(r)),
            s.version.as_deref().unwrap_or("unknown"),
            key,
            drift
        );
    }
    for s in &st.sites {
        if let Some(plan) = &s.adoption_plan {
            for line in adoption_lines(&args.name, &s.name, plan) {
                println!("{line}");
            }
        }
    }
    match &st.promotion {
        Some(_) => println!("promotion: {}", progress(&st)),
        None => println!("promotion: none running"),
    }
    if let Some(c) = &st.active_change {
        println!(
            "active change: {} to revision {} at step {}; traffic on {}{}",
            c.site,
            c.revision.get(..12).unwrap_or(&c.revision),
            c.step.as_str(),
            st.traffic_site.as_deref().unwrap_or("-"),
            c.message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
    }
    let lines = super::record_lines::verify_lines(&args.name, &st)
        .into_iter()
        .chain(super::record_lines::history_lines(&st.history));
    for line in lines {
        println!("{line}");
    }
    for line in st.rehearsal.iter().flat_map(super::rehearse::lines) {
        println!("{line}");
    }
    for c in &st.conditions {
        if c.type_ == types::PROMOTION_BLOCKED && c.status == ConditionStatus::True {
            println!("blocked: {}", c.message);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The change windows as they stand at `now`: for promotions and syncs,
/// open, or closed and until when (none when the pair has no windows).
fn window_lines(spec: &crate::api::SiteHAPairSpec, now: jiff::Timestamp) -> Vec<String> {
    use crate::plan::windows::{Action, Gate, closes_at, gate, until_text};
    let check = crate::plan::spec_check::check_spec(spec);
    if spec.windows.is_empty() && spec.promotion.not_before.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(at) = check.not_before.filter(|t| *t > now) {
        out.push(format!(
            "scheduled: not before {}",
            crate::plan::time::stamp(at)
        ));
    }
    for (what, action) in [
        ("promotion", Action::PlannedPromotion),
        ("sync", Action::Sync),
    ] {
        out.push(match gate(&check.windows, action, now) {
            Gate::Open => match closes_at(&check.windows, action, now) {
                Some(t) => format!("{what} window: open until {}", crate::plan::time::stamp(t)),
                None => format!("{what} window: open"),
            },
            Gate::Closed { until, why } => {
                format!("{what} window: closed {} ({why})", until_text(until))
            }
        });
    }
    out
}

/// A site's adoption plan waiting for acceptance: every write, and the
/// command that accepts it.
fn adoption_lines(pair: &str, site: &str, plan: &AdoptionPlan) -> Vec<String> {
    let mut out = vec![format!(
        "adoption of {site} waits (revision {}): {} to create, {} to replace, {} to delete",
        plan.revision.get(..12).unwrap_or(&plan.revision),
        plan.create.len(),
        plan.replace.len(),
        plan.delete.len()
    )];
    for (verb, names) in [
        ("create", &plan.create),
        ("replace", &plan.replace),
        ("delete", &plan.delete),
    ] {
        out.extend(names.iter().map(|n| format!("  {verb:<8}{n}")));
    }
    out.push(format!(
        "  accept: kubectl annotate shp {pair} {ANNOTATION_APPROVE_ADOPTION}={}",
        plan.revision
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_whether_each_window_is_open_and_until_when() {
        let spec: crate::api::SiteHAPairSpec = serde_json::from_value(serde_json::json!({
            "activeSite": "east",
            "sites": [{"name": "east", "adminUrl": "https://e", "credentialsSecretRef": {"name": "e"}, "trafficAddresses": ["192.0.2.1"]}],
            "windows": [{"kind": "Allow", "schedule": "0 22 * * 6", "duration": "4h", "appliesTo": ["Promotion"]}]
        }))
        .expect("spec");
        let now: jiff::Timestamp = "2026-12-11T10:00:00Z".parse().expect("time");
        let lines = window_lines(&spec, now);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("promotion window: closed until 2026-12-12T22:00:00Z"),
            "{lines:?}"
        );
        assert_eq!(lines[1], "sync window: open");
        // Inside the window: open, and until when.
        let now: jiff::Timestamp = "2026-12-12T23:00:00Z".parse().expect("time");
        let lines = window_lines(&spec, now);
        assert_eq!(
            lines[0], "promotion window: open until 2026-12-13T02:00:00Z",
            "{lines:?}"
        );
        assert_eq!(lines[1], "sync window: open");
    }

    #[test]
    fn an_adoption_plan_lists_every_write_and_the_command_that_accepts_it() {
        let plan = AdoptionPlan {
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            create: vec!["roads".into()],
            replace: vec!["rivers".into()],
            delete: vec!["old".into(), "older".into()],
        };
        let lines = adoption_lines("gis", "east", &plan);
        assert_eq!(
            lines,
            [
                "adoption of east waits (revision 0123456789ab): 1 to create, 1 to replace, 2 to delete",
                "  create  roads",
                "  replace rivers",
                "  delete  old",
                "  delete  older",
                "  accept: kubectl annotate shp gis sitehapair.io/approve-adoption=0123456789abcdef0123456789abcdef01234567",
            ]
        );
    }
}
