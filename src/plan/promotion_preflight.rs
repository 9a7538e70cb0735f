//! The preflight of a promotion, pure: the checks on the target (it
//! answers, is not joining, serves what it accepted, runs the active's
//! version and token key, has settled, is healthy and holds the source
//! revision), each failure naming the check and how to let it through.

use super::promotion_types::{
    Block, BlockReason, PromotionInput, PromotionReason, SiteObs, find, short, stamp,
};

/// The preflight checks on the target; each failure names the check and why.
pub fn preflight(inp: &PromotionInput<'_>) -> Vec<Block> {
    let check = |message: String| Block {
        reason: BlockReason::PreflightFailed,
        message,
    };
    let Some(t) = find(inp.sites, inp.target) else {
        return vec![check(format!(
            "target: site {} is not one of spec.sites",
            inp.target
        ))];
    };
    if !t.knows_mode() {
        let reason = BlockReason::of_contact(t.contact).unwrap_or(BlockReason::PreflightFailed);
        let why = t.message.as_deref().unwrap_or("no answer");
        return vec![Block {
            reason,
            message: format!(
                "reachable: site {} does not answer its admin API: {why}",
                t.name
            ),
        }];
    }
    let mut out = Vec::new();
    if t.joining {
        out.push(check(format!(
            "joined: site {} is joining the pair (its first full sync and health check have not passed)",
            t.name
        )));
    }
    if t.contact == crate::api::SiteContact::NotServing {
        out.push(Block {
            reason: BlockReason::SiteNotServing,
            message: format!(
                "serving: site {} does not serve what it accepted: {}",
                t.name,
                t.message
                    .as_deref()
                    .unwrap_or("its public API differs from its configuration")
            ),
        });
    }
    if let Some(differs) = parity_block(inp, t) {
        out.push(differs);
    }
    if let Some(unsettled) = settling_block(inp, t) {
        out.push(unsettled);
    }
    if inp.require_healthy && !t.healthy {
        out.push(check(format!(
            "healthy: site {} fails its health check (spec.promotion.requireHealthy)",
            t.name
        )));
    }
    if inp.require_in_sync
        && let Some(rev) = inp.source_revision
    {
        if t.synced_revision.as_deref() != Some(rev) {
            out.push(check(format!(
                "inSync: site {} holds revision {}, not the source revision {} (spec.promotion.requireInSync)",
                t.name,
                t.synced_revision.as_deref().map_or("none", short),
                short(rev)
            )));
        } else if t.drifting {
            out.push(check(format!(
                "inSync: site {} has drift from revision {} (spec.promotion.requireInSync)",
                t.name,
                short(rev)
            )));
        }
    }
    out
}

/// The parity check: the target must run the active's version and share
/// its token key (known values only), unless the allow-parity-mismatch
/// annotation names the target.
fn parity_block(inp: &PromotionInput<'_>, t: &SiteObs) -> Option<Block> {
    let differs = parity_differences(inp, t);
    if differs.is_empty() || inp.allow_parity_mismatch == Some(t.name.as_str()) {
        return None;
    }
    Some(Block {
        reason: BlockReason::ParityMismatch,
        message: format!(
            "parity: {}; to promote anyway, annotate the pair {}={}",
            differs.join("; "),
            crate::api::ANNOTATION_ALLOW_PARITY_MISMATCH,
            t.name
        ),
    })
}

/// A planned promotion waits until the target's last change is older than
/// spec.promotion.settlingTime (a failover, automatic or forced, does not).
fn settling_block(inp: &PromotionInput<'_>, t: &SiteObs) -> Option<Block> {
    if inp.settling.is_zero() || inp.reason != PromotionReason::Manual {
        return None;
    }
    let changed = t.last_change?;
    let settling = jiff::SignedDuration::try_from(inp.settling).ok()?;
    let until = changed.checked_add(settling).ok()?;
    (inp.now < until).then(|| Block {
        reason: BlockReason::PreflightFailed,
        message: format!(
            "settled: site {} changed at {}; planned promotions wait spec.promotion.settlingTime after a site's last change, until {}",
            t.name,
            stamp(changed),
            stamp(until)
        ),
    })
}

/// What differs between the active (status.activeSite) and the target.
pub(super) fn parity_differences(inp: &PromotionInput<'_>, t: &SiteObs) -> Vec<String> {
    fn reported(s: &SiteObs) -> crate::plan::parity::Reported<'_> {
        crate::plan::parity::Reported {
            name: &s.name,
            version: s.version.as_deref(),
            token_key: s.token_key.as_deref(),
        }
    }
    match inp
        .current
        .filter(|c| *c != t.name)
        .and_then(|c| find(inp.sites, c))
    {
        Some(a) => crate::plan::parity::differences(&reported(a), &reported(t)),
        None => Vec::new(),
    }
}
