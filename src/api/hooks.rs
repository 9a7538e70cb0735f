//! Work after a promotion (`spec.promotion.hooks`): the hooks a pair runs
//! once a promotion is Complete (an HTTP call or a Kubernetes Job each),
//! and their state in `status.hooks`. What runs when is decided in
//! `plan::hooks`; the calls and Jobs are made in `controller::hooks`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults;
use super::spec::SecretKeyRef;

/// One piece of work run after each promotion completes: exactly one of
/// `http` or `job`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.http) != has(self.job)").message("set exactly one of http or job on each hook").reason(Reason::FieldValueRequired),
    validation = Rule::new("!has(self.rehearse) || !self.rehearse || has(self.http)").message("rehearse is for http hooks: a Job hook is not run by a rehearsal")
)]
pub struct PromotionHook {
    /// The hook's name: a DNS label (lower-case letters, digits and '-', at
    /// most 63 characters), unique in the pair. It names the hook in
    /// status.hooks, in Events and in the Job it runs.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// Call an HTTP endpoint: a POST with a JSON body naming the pair and
    /// the promotion. Any 2xx answer is success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpHook>,

    /// Run a Kubernetes Job in the pair's namespace, owned by the pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobHook>,

    /// Attempts before the hook is reported Failed (1 to 10). An HTTP hook
    /// is called again after a transport failure or an answer other than
    /// 2xx; a Job hook counts attempts to create its Job (the Job's pods
    /// are retried by the Job's own backoffLimit, and a Job that fails is
    /// final).
    #[serde(default = "defaults::hook_attempts")]
    #[schemars(range(min = 1, max = 10))]
    pub attempts: i32,

    /// The wait after the first failed attempt, as a Go duration of at
    /// least 1s (such as 10s); each further wait is three times the one
    /// before, at most 30m.
    #[serde(default = "defaults::hook_backoff")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')").message("backoff must be a duration of at least 1s, such as 10s"))]
    pub backoff: String,

    /// Safe to rehearse: a rehearsal of a promotion (spec.promotion.rehearse)
    /// calls this hook once, with `"rehearsal": true` in the body and the
    /// header `X-Sitehapair-Rehearsal: true`, and reports its time; the
    /// endpoint must change nothing for it. Only http hooks. Default false:
    /// the rehearsal lists the hook as skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rehearse: bool,
}

/// An HTTP call after a promotion: `POST <url>` with the JSON body
/// `{pair, namespace, from, to, epoch, reason, forced, completedAt, hook}`,
/// the headers `Idempotency-Key` and `X-Sitehapair-Hook-Id` (the same
/// stable value for every attempt of one hook of one promotion: the
/// pair's uid, the epoch and the hook name) and `X-Sitehapair-Attempt`.
/// TLS is always verified; redirects are not followed (they fail the
/// attempt); the answer is read up to 64 KiB.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpHook {
    /// The URL called, http or https.
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/]+(/\S*)?$")
    )]
    #[x_kube(validation = Rule::new("isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')").message("http.url must be an http:// or https:// URL, such as https://hooks.internal/after-promotion"))]
    pub url: String,

    /// Secret key holding a bearer token, sent as `Authorization: Bearer
    /// <token>`. Without it no Authorization header is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,

    /// Secret key holding the PEM CA bundle that signs the endpoint's TLS
    /// certificate; without it the system roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,

    /// How long one call may take, connection included, as a Go duration
    /// from 1s to 60s (such as 10s). An endpoint with longer work should
    /// accept the call (2xx) and do the work afterwards.
    #[serde(default = "defaults::hook_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('60s')").message("http.timeout must be a duration from 1s to 60s, such as 10s"))]
    pub timeout: String,
}

/// A Kubernetes Job after a promotion, created in the pair's namespace as
/// `<pair>-<hook>-e<epoch>` (shortened with a hash past 63 characters),
/// owned by the pair (deleted with it), labelled `sitehapair.io/pair`,
/// `sitehapair.io/hook` and `sitehapair.io/epoch`. Every container gets the
/// environment variables SITEHAPAIR_PAIR, SITEHAPAIR_NAMESPACE,
/// SITEHAPAIR_HOOK, SITEHAPAIR_FROM, SITEHAPAIR_TO, SITEHAPAIR_EPOCH and
/// SITEHAPAIR_REASON. The hook succeeds when the Job is Complete and fails
/// when the Job is Failed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobHook {
    /// The Job's spec (batch/v1 JobSpec: template, backoffLimit,
    /// activeDeadlineSeconds, ttlSecondsAfterFinished, ...), as in a
    /// CronJob's jobTemplate.spec. The API server checks it when the Job is
    /// created; a spec it refuses fails the hook at once, with the reason
    /// in status.hooks. A pod template without restartPolicy gets Never.
    #[schemars(schema_with = "job_spec_schema")]
    pub spec: serde_json::Value,
}

/// A JSON object kept whole: the Job's own schema is the API server's.
fn job_spec_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// One hook of one promotion, as last seen.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HookStatus {
    /// The hook's name (spec.promotion.hooks[].name).
    pub name: String,
    /// The epoch of the promotion the hook runs after (status.history[].epoch).
    pub epoch: i64,
    /// Pending (waiting for its next attempt), Running, Succeeded, Failed
    /// (attempts exhausted, or its Job failed) or Abandoned (a newer
    /// promotion completed first, or the hook left the spec).
    pub phase: HookPhase,
    /// Attempts made: HTTP calls, or creations of the Job.
    #[serde(default)]
    pub attempts: i32,
    /// When the last attempt started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// When the next attempt is due (RFC 3339), while Pending after a failed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// What happened last (an HTTP status and the start of the answer, a
    /// transport error, the Job's condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The name of the Job a job hook created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// Where one hook stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HookPhase {
    /// Recorded, waiting for its first or next attempt.
    #[default]
    Pending,
    /// An attempt is under way (an HTTP call, or a Job that has not finished).
    Running,
    /// Done: a 2xx answer, or a Complete Job.
    Succeeded,
    /// Attempts exhausted, or the Job failed. The promotion stands.
    Failed,
    /// Given up unfinished: a newer promotion completed first, or the hook
    /// was removed from the spec. A Job already created runs on; its result
    /// is no longer read.
    Abandoned,
}

impl HookPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Pending => "Pending",
            HookPhase::Running => "Running",
            HookPhase::Succeeded => "Succeeded",
            HookPhase::Failed => "Failed",
            HookPhase::Abandoned => "Abandoned",
        }
    }

    /// Nothing more will be done for it.
    pub fn finished(self) -> bool {
        matches!(
            self,
            HookPhase::Succeeded | HookPhase::Failed | HookPhase::Abandoned
        )
    }
}
