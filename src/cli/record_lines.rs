//! The lines `sitehapair status` prints for the promotion record and the
//! verification: each finished promotion with who asked and why, the
//! revision, its steps, "switched" kept apart from "cleaned up", how its
//! verification ended; the verification under way and the hold.

use crate::api::{PromotionRecord, SiteHAPairStatus};

/// The history, newest first.
pub fn history_lines(history: &[PromotionRecord]) -> Vec<String> {
    let mut out = Vec::new();
    if history.is_empty() {
        return out;
    }
    out.push("last promotions:".to_string());
    for h in history.iter().rev() {
        out.push(format!(
            "  {} -> {} epoch {} {} {} .. {}{}",
            h.from.as_deref().unwrap_or("-"),
            h.to,
            h.epoch,
            h.reason,
            h.started_at,
            h.completed_at,
            match (&h.forced_by, h.forced) {
                (Some(by), _) => format!(" (forced by {by})"),
                (None, true) => " (forced)".to_string(),
                (None, false) => String::new(),
            }
        ));
        if let Some(by) = &h.requested_by {
            let why = h
                .why
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default();
            out.push(format!("    asked by {by}{why}"));
        }
        if let Some(rev) = &h.revision {
            out.push(format!("    revision {}", rev.get(..12).unwrap_or(rev)));
        }
        out.push(format!(
            "    switched {}, cleaned up {}",
            h.switched_at.as_deref().unwrap_or("-"),
            h.cleaned_up_at
                .as_deref()
                .unwrap_or("not yet (a site passed over has not been seen passive)")
        ));
        if !h.steps.is_empty() {
            let steps: Vec<String> = h
                .steps
                .iter()
                .map(|s| format!("{} {} s (from {})", s.phase, s.seconds, s.started_at))
                .collect();
            out.push(format!("    steps: {}", steps.join(", ")));
        }
        if let Some(v) = &h.verification {
            out.push(format!(
                "    verification {} at {}{}",
                v.result.as_str(),
                v.at,
                v.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

/// The verification under way and the hold, if any.
pub fn verify_lines(pair: &str, st: &SiteHAPairStatus) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = &st.verification {
        out.push(format!(
            "verifying: {} (epoch {}), {} of {} checks passed in a row, until {}{}",
            v.site,
            v.epoch,
            v.passes,
            v.required,
            v.deadline,
            v.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    if let Some(h) = &st.hold {
        out.push(format!(
            "HELD since {} ({}): {}",
            h.since, h.reason, h.message
        ));
        out.push(format!("  to acknowledge: sitehapair ack {pair}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{HoldStatus, StepTiming, VerificationRecord, VerificationResult};

    #[test]
    fn the_record_keeps_switched_apart_from_cleaned_up_and_says_the_verification() {
        let rec = PromotionRecord {
            from: Some("east".into()),
            to: "west".into(),
            reason: "Manual".into(),
            epoch: 4,
            started_at: "2026-01-01T00:00:00Z".into(),
            completed_at: "2026-01-01T00:00:09Z".into(),
            requested_by: Some("user alice".into()),
            why: Some("patching east".into()),
            revision: Some("0123456789abcdef".into()),
            switched_at: Some("2026-01-01T00:00:09Z".into()),
            steps: vec![StepTiming {
                phase: "Preflight".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                seconds: 3,
            }],
            verification: Some(VerificationRecord {
                result: VerificationResult::Failed,
                at: "2026-01-01T00:00:30Z".into(),
                message: Some("west failed its check".into()),
            }),
            ..PromotionRecord::default()
        };
        let text = history_lines(&[rec]).join("\n");
        assert!(
            text.contains("asked by user alice: patching east"),
            "{text}"
        );
        assert!(text.contains("revision 0123456789ab"), "{text}");
        assert!(
            text.contains("switched 2026-01-01T00:00:09Z, cleaned up not yet"),
            "{text}"
        );
        assert!(text.contains("Preflight 3 s"), "{text}");
        assert!(
            text.contains("verification Failed at 2026-01-01T00:00:30Z: west failed its check"),
            "{text}"
        );
        let st = SiteHAPairStatus {
            hold: Some(HoldStatus {
                reason: "VerificationFailed".into(),
                message: "west failed".into(),
                since: "2026-01-01T00:00:30Z".into(),
                site: "west".into(),
                ..HoldStatus::default()
            }),
            ..SiteHAPairStatus::default()
        };
        let text = verify_lines("gis", &st).join("\n");
        assert!(text.contains("HELD since 2026-01-01T00:00:30Z"), "{text}");
        assert!(text.contains("sitehapair ack gis"), "{text}");
    }
}
