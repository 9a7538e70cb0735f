//! `sitehapair promote NAME --to SITE --rehearse`: ask the operator to
//! rehearse the promotion (spec.promotion.rehearse with a new id, and who
//! asked); `--wait` waits for its result, prints it and exits 1 unless it
//! Passed. Also the lines `sitehapair status` prints for the last one.

use std::process::ExitCode;

use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::api::{RehearsalResult, RehearsalStatus, SiteHAPair, duration};

/// What the rehearsal command is given.
pub struct Ask<'a> {
    pub api: &'a Api<SiteHAPair>,
    pub name: &'a str,
    pub to: &'a str,
    pub by: String,
    pub field_manager: &'a str,
    pub wait: bool,
    pub timeout: &'a str,
}

/// Set spec.promotion.rehearse to a new request; with `wait`, follow
/// status.rehearsal until it has a result.
pub async fn rehearse(ask: Ask<'_>) -> anyhow::Result<ExitCode> {
    let id = jiff::Timestamp::now().as_millisecond().to_string();
    let patch = json!({
        "metadata": {"annotations": {
            crate::api::ANNOTATION_REHEARSAL_REQUESTED_BY: format!("{id} by {}", ask.by),
        }},
        "spec": {"promotion": {"rehearse": {"site": ask.to, "id": id}}},
    });
    let pp = PatchParams {
        field_manager: Some(ask.field_manager.into()),
        ..PatchParams::default()
    };
    ask.api.patch(ask.name, &pp, &Patch::Merge(&patch)).await?;
    println!(
        "{}: rehearsal of the promotion to {} asked (id {id}); no role or traffic changes",
        ask.name, ask.to
    );
    if !ask.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let timeout = duration::parse("--timeout", ask.timeout)?;
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", ask.name));
    let mut events = std::pin::pin!(
        watcher(ask.api.clone(), cfg)
            .default_backoff()
            .applied_objects()
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let Ok(item) = next else {
            eprintln!("the rehearsal has no result after {}", ask.timeout);
            return Ok(ExitCode::from(1));
        };
        let obj = match item {
            Some(Ok(obj)) => obj,
            Some(Err(_)) => continue,
            None => anyhow::bail!("the watch of {} ended", ask.name),
        };
        let done = obj
            .status
            .and_then(|s| s.rehearsal)
            .filter(|r| r.id == id && r.result.finished());
        if let Some(r) = done {
            for line in lines(&r) {
                println!("{line}");
            }
            return Ok(if r.result == RehearsalResult::Passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
}

/// The last rehearsal, as `status` and `--wait` print it.
pub fn lines(r: &RehearsalStatus) -> Vec<String> {
    let mut out = vec![format!(
        "rehearsal of the promotion to {} (id {}{}): {}, started {}{}",
        r.site,
        r.id,
        r.requested_by
            .as_deref()
            .map(|b| format!(", asked by {b}"))
            .unwrap_or_default(),
        r.result.as_str(),
        r.started_at,
        r.finished_at
            .as_deref()
            .map(|f| format!(", finished {f}"))
            .unwrap_or_default()
    )];
    if let Some(m) = r.message.as_deref().filter(|_| r.problems.is_empty()) {
        out.push(format!("  {m}"));
    }
    if !r.steps.is_empty() {
        out.push("  steps:".into());
    }
    for s in &r.steps {
        out.push(format!(
            "    {:<20} {:<8} {:>6} ms{}",
            s.name,
            s.outcome.as_str(),
            s.milliseconds,
            s.message
                .as_deref()
                .map(|m| format!("  {m}"))
                .unwrap_or_default()
        ));
    }
    if !r.would_do.is_empty() {
        out.push("  the real promotion would:".into());
        for (i, w) in r.would_do.iter().enumerate() {
            out.push(format!("    {}. {w}", i + 1));
        }
    }
    if let Some(s) = r.estimated_seconds {
        out.push(format!(
            "  estimated time: about {s}s ({})",
            r.estimate_basis.as_deref().unwrap_or("")
        ));
    }
    if !r.problems.is_empty() {
        out.push("  problems:".into());
        for p in &r.problems {
            out.push(format!("    - {p}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{RehearsalStep, StepOutcome};

    #[test]
    fn a_failed_rehearsal_prints_its_steps_times_plan_and_problems() {
        let r = RehearsalStatus {
            site: "west".into(),
            id: "1".into(),
            result: RehearsalResult::Failed,
            started_at: "2026-12-07T10:00:00Z".into(),
            steps: vec![RehearsalStep {
                name: "HealthCheck".into(),
                outcome: StepOutcome::Failed,
                started_at: "2026-12-07T10:00:00Z".into(),
                milliseconds: 12,
                message: Some("site west fails its health check".into()),
            }],
            would_do: vec!["Promoting: set west active at epoch 5".into()],
            estimated_seconds: Some(3),
            estimate_basis: Some("measured".into()),
            problems: vec!["HealthCheck: site west fails its health check".into()],
            ..RehearsalStatus::default()
        };
        let text = lines(&r).join("\n");
        assert!(text.contains("Failed"), "{text}");
        assert!(text.contains("HealthCheck"), "{text}");
        assert!(text.contains("12 ms"), "{text}");
        assert!(text.contains("1. Promoting"), "{text}");
        assert!(text.contains("about 3s"), "{text}");
        assert!(text.contains("- HealthCheck: site west"), "{text}");
    }
}
