//! Verification after a promotion, the I/O half: the probes through the
//! traffic path when a check is due, the acknowledgement read from the
//! annotations, the decision (pure, in `plan::verify`) folded into the
//! status, and the revert's spec change once the status is recorded: the
//! previous active named in spec.activeSite under the operator's verify
//! field manager, guarded by the resourceVersion it was decided on, and
//! carried out by the promotion machine like any other promotion.

use std::time::Duration;

use futures::future::join_all;
use kube::ResourceExt;

use super::failover::SpecChange;
use crate::api::{
    ANNOTATION_ACKNOWLEDGE_HOLD, ANNOTATION_ACKNOWLEDGE_HOLD_BY, ANNOTATION_VERIFICATION_REVERT,
    SiteHAPair, SiteHAPairStatus, VERIFY_FIELD_MANAGER, VerifyProbe,
};
use crate::plan::event::PlannedEvent;
use crate::plan::hooks::completed_now;
use crate::plan::spec_check::SpecCheck;
use crate::plan::time::Timestamp;
use crate::plan::verify::{
    ProbeOutcome, Revert, VerifyInput, VerifyOutcome, apply_verify, check_due, note_cleaned_up,
};

/// The longest a probe may take.
const MAX_PROBE: Duration = Duration::from_secs(10);

/// Verify the last promotion, acknowledge a hold, note a clean-up; a
/// promotion that completed this trip has an epoch `before` does not.
pub async fn verify(
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    check: &SpecCheck,
    before: Option<i64>,
    now: Timestamp,
) -> VerifyOutcome {
    let finished = completed_now(before, &status.history).cloned();
    let probes = match (&obj.spec.promotion.verify, finished.is_none()) {
        (Some(v), true) if check_due(status, check.verify, now) => {
            let timeout = check
                .times
                .health_timeout
                .clamp(Duration::from_secs(1), MAX_PROBE);
            run_probes(&v.probes, timeout).await
        }
        _ => Vec::new(),
    };
    let annotations = obj.annotations();
    let ack = annotations.get(ANNOTATION_ACKNOWLEDGE_HOLD).map(|value| {
        let by = annotations
            .get(ANNOTATION_ACKNOWLEDGE_HOLD_BY)
            .and_then(|b| b.split_once(" by "))
            .filter(|(v, who)| v.trim() == value.trim() && !who.trim().is_empty())
            .map(|(_, who)| who.trim().to_string())
            .unwrap_or_else(|| "someone not recorded (sitehapair ack records who)".into());
        (value.as_str(), crate::api::redact::trim(&by, 120))
    });
    let pair = obj.name_any();
    let out = apply_verify(
        status,
        &VerifyInput {
            config: check.verify,
            pair: &pair,
            finished: finished.as_ref(),
            probes: &probes,
            ack: ack.as_ref().map(|(v, by)| (*v, by.as_str())),
            target: &obj.spec.active_site,
            revert_annotation: annotations
                .get(ANNOTATION_VERIFICATION_REVERT)
                .map(String::as_str),
            now,
        },
    );
    note_cleaned_up(status, now);
    out
}

/// The revert's spec change: the previous active back in spec.activeSite.
pub fn revert_change(revert: &Revert) -> SpecChange<'_> {
    SpecChange {
        to: &revert.to,
        manager: VERIFY_FIELD_MANAGER,
        annotation: (
            ANNOTATION_VERIFICATION_REVERT,
            format!("{}: {}", revert.to, revert.why),
        ),
        event: PlannedEvent {
            warning: true,
            reason: "RevertRequested",
            action: "Revert",
            note: format!(
                "spec.activeSite set to {} by {}",
                revert.to,
                crate::api::VERIFY_REQUESTER
            ),
        },
    }
}

/// GET every probe URL at once, without credentials or redirects.
async fn run_probes(probes: &[VerifyProbe], timeout: Duration) -> Vec<ProbeOutcome> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sitehapair/", env!("CARGO_PKG_VERSION")))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            return probes
                .iter()
                .map(|p| ProbeOutcome {
                    url: crate::api::redact::redact_url(&p.url),
                    ok: false,
                    detail: format!("no HTTP client: {e}"),
                })
                .collect();
        }
    };
    join_all(probes.iter().map(|p| probe(&client, p))).await
}

async fn probe(client: &reqwest::Client, p: &VerifyProbe) -> ProbeOutcome {
    let url = crate::api::redact::redact_url(&p.url);
    match client.get(&p.url).send().await {
        Ok(resp) => {
            let got = i32::from(resp.status().as_u16());
            ProbeOutcome {
                url,
                ok: got == p.expect_status,
                detail: format!("answered {got}, expected {}", p.expect_status),
            }
        }
        Err(e) => ProbeOutcome {
            url,
            ok: false,
            detail: if e.is_timeout() {
                "no answer in time".to_string()
            } else {
                "no answer (connection failed)".to_string()
            },
        },
    }
}
