//! What a hook is told: the name of a Job hook's Job, the id every
//! attempt of one hook of one promotion carries, an HTTP hook's body and a
//! Job's environment.

use serde_json::{Value, json};

use crate::api::PromotionRecord;

/// The Job of one hook of one promotion: `<pair>-<hook>-e<epoch>`, or,
/// past 63 characters (a label value; the Job's pods carry it), its start,
/// a hash of the whole and the epoch.
pub fn job_name(pair: &str, hook: &str, epoch: i64) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{pair}-{hook}-e{epoch}");
    if full.len() <= 63 {
        return full;
    }
    let hash = hex::encode(Sha256::digest(full.as_bytes()));
    let suffix = format!("-{}-e{epoch}", &hash[..10]);
    let keep = 63usize.saturating_sub(suffix.len());
    let head = full[..keep.min(full.len())].trim_end_matches('-');
    format!("{head}{suffix}")
}

/// The value of `Idempotency-Key` and `X-Sitehapair-Hook-Id`: the same for
/// every attempt of one hook of one promotion, and for no other.
pub fn hook_id(pair_uid: &str, epoch: i64, hook: &str) -> String {
    format!("{pair_uid}-e{epoch}-{hook}")
}

/// The JSON body of an HTTP hook.
pub fn http_body(pair: &str, namespace: &str, rec: &PromotionRecord, hook: &str) -> Value {
    json!({
        "pair": pair,
        "namespace": namespace,
        "from": rec.from,
        "to": rec.to,
        "epoch": rec.epoch,
        "reason": rec.reason,
        "forced": rec.forced,
        "completedAt": rec.completed_at,
        "hook": hook,
    })
}

/// The environment every container of a Job hook gets.
pub fn job_env(
    pair: &str,
    namespace: &str,
    rec: &PromotionRecord,
    hook: &str,
) -> Vec<(String, String)> {
    [
        ("SITEHAPAIR_PAIR", pair.to_string()),
        ("SITEHAPAIR_NAMESPACE", namespace.to_string()),
        ("SITEHAPAIR_HOOK", hook.to_string()),
        ("SITEHAPAIR_FROM", rec.from.clone().unwrap_or_default()),
        ("SITEHAPAIR_TO", rec.to.clone()),
        ("SITEHAPAIR_EPOCH", rec.epoch.to_string()),
        ("SITEHAPAIR_REASON", rec.reason.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
