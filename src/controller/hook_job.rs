//! The Job of a Job hook: built from the hook's spec (its name, labels,
//! the pair as owner, the environment every container gets), created
//! (AlreadyExists is an earlier attempt's Job, resumed), and read (its
//! Complete and Failed conditions). Outcomes only: nothing here fails the
//! reconcile.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};

use crate::api::redact::{MAX_MESSAGE, trim};
use crate::api::{FIELD_MANAGER, JobHook, PromotionRecord};
use crate::plan::hooks::{JobSeen, Outcome, job_env, job_outcome};
use crate::traffic::objects::LABEL_PAIR;

/// Label naming the hook a Job runs.
pub const LABEL_HOOK: &str = "sitehapair.io/hook";
/// Label naming the epoch of the promotion a Job runs after.
pub const LABEL_EPOCH: &str = "sitehapair.io/epoch";

/// Who a hook's Job is for.
pub struct JobFor<'a> {
    pub pair: &'a str,
    pub namespace: &'a str,
    pub hook: &'a str,
    pub owner: OwnerReference,
    pub rec: &'a PromotionRecord,
}

/// The Job `name` of a hook, from its spec. Err: the spec is no Job spec.
pub fn build(name: &str, spec: &JobHook, who: &JobFor<'_>) -> Result<Job, String> {
    let mut job: JobSpec = serde_json::from_value(spec.spec.clone()).map_err(|e| {
        format!(
            "spec.promotion.hooks[{}].job.spec is not a Job spec: {}",
            who.hook,
            trim(&e.to_string(), MAX_MESSAGE)
        )
    })?;
    let pod = job.template.spec.get_or_insert_with(Default::default);
    // A Job's pods may not restart Always (the pod default).
    pod.restart_policy
        .get_or_insert_with(|| "Never".to_string());
    let env = job_env(who.pair, who.namespace, who.rec, who.hook);
    let init = pod.init_containers.iter_mut().flatten();
    for c in pod.containers.iter_mut().chain(init) {
        set_env(c, &env);
    }
    let labels = BTreeMap::from([
        (LABEL_PAIR.to_string(), who.pair.to_string()),
        (LABEL_HOOK.to_string(), who.hook.to_string()),
        (LABEL_EPOCH.to_string(), who.rec.epoch.to_string()),
    ]);
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(who.namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![who.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(job),
        status: None,
    })
}

/// Put the hook's variables on a container, replacing any of the same name.
fn set_env(c: &mut Container, env: &[(String, String)]) {
    let list = c.env.get_or_insert_with(Vec::new);
    list.retain(|e| !env.iter().any(|(k, _)| *k == e.name));
    list.extend(env.iter().map(|(k, v)| EnvVar {
        name: k.clone(),
        value: Some(v.clone()),
        value_from: None,
    }));
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => trim(&format!("{} ({})", s.message, s.code), MAX_MESSAGE),
        other => trim(&other.to_string(), MAX_MESSAGE),
    }
}

/// Create the Job; one that exists already and is this pair's is the one
/// an earlier attempt created.
pub async fn create(client: &kube::Client, job: &Job, owner_uid: &str) -> Outcome {
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, job).await {
        Ok(_) => Outcome::Running(format!("Job {name} created")),
        Err(kube::Error::Api(s)) if s.code == 409 => match api.get_opt(&name).await {
            Ok(Some(found)) if owned_by(&found, owner_uid) => {
                Outcome::Running(format!("Job {name} exists (created by an earlier attempt)"))
            }
            Ok(Some(_)) => Outcome::Failed(format!(
                "a Job named {name} exists that this pair did not create; delete or rename it"
            )),
            Ok(None) => Outcome::AttemptFailed(format!("Job {name} was being deleted")),
            Err(e) => Outcome::AttemptFailed(format!("reading Job {name}: {}", api_message(&e))),
        },
        // The spec is refused: no other attempt can help.
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => Outcome::Failed(format!(
            "the API server refused Job {name}: {}",
            trim(&format!("{} ({})", s.message, s.code), MAX_MESSAGE)
        )),
        Err(e) => Outcome::AttemptFailed(format!("creating Job {name}: {}", api_message(&e))),
    }
}

fn owned_by(job: &Job, uid: &str) -> bool {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid)
}

/// How the Job of a running attempt stands. A read that fails leaves the
/// hook Running (it is read again); a Job that is gone fails the attempt.
pub async fn check(client: &kube::Client, namespace: &str, name: &str) -> Outcome {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(job)) => job_outcome(name, &seen(&job)),
        Ok(None) => Outcome::AttemptFailed(format!("Job {name} no longer exists")),
        Err(e) => Outcome::Running(format!("could not read Job {name}: {}", api_message(&e))),
    }
}

/// What the hook reads of a Job.
pub fn seen(job: &Job) -> JobSeen {
    let status = job.status.clone().unwrap_or_default();
    let conds = status.conditions.unwrap_or_default();
    let is_true = |t: &str| conds.iter().find(|c| c.type_ == t && c.status == "True");
    JobSeen {
        complete: is_true("Complete").is_some(),
        failed: is_true("Failed").map(|c| {
            let reason = c.reason.clone().unwrap_or_default();
            let message = c.message.clone().unwrap_or_default();
            trim(&format!("{reason}: {message}"), MAX_MESSAGE)
        }),
        active: status.active.unwrap_or(0),
        failed_pods: status.failed.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec() -> PromotionRecord {
        PromotionRecord {
            from: Some("east".into()),
            to: "west".into(),
            reason: "Manual".into(),
            epoch: 4,
            started_at: "2026-01-01T00:00:00Z".into(),
            completed_at: "2026-01-01T00:00:05Z".into(),
            forced: false,
            forced_by: None,
            ..PromotionRecord::default()
        }
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "sitehapair.io/v1alpha1".into(),
            kind: "SiteHAPair".into(),
            name: "gis".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn the_job_is_named_labelled_owned_and_every_container_told_the_promotion() {
        let spec = JobHook {
            spec: json!({
                "backoffLimit": 1,
                "template": {"spec": {
                    "initContainers": [{"name": "i", "image": "busybox"}],
                    "containers": [
                        {"name": "a", "image": "busybox", "env": [{"name": "SITEHAPAIR_TO", "value": "lie"}, {"name": "KEEP", "value": "1"}]},
                        {"name": "b", "image": "busybox"}
                    ]
                }}
            }),
        };
        let r = rec();
        let who = JobFor {
            pair: "gis",
            namespace: "ops",
            hook: "certs",
            owner: owner(),
            rec: &r,
        };
        let job = build("gis-certs-e4", &spec, &who).expect("a job");
        let labels = job.metadata.labels.clone().expect("labels");
        assert_eq!(labels[LABEL_PAIR], "gis");
        assert_eq!(labels[LABEL_HOOK], "certs");
        assert_eq!(labels[LABEL_EPOCH], "4");
        assert_eq!(job.metadata.owner_references, Some(vec![owner()]));
        let js = job.spec.expect("spec");
        assert_eq!(js.backoff_limit, Some(1));
        let pod = js.template.spec.expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let all = pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten());
        for c in all {
            let env: Vec<(String, Option<String>)> = c
                .env
                .iter()
                .flatten()
                .map(|e| (e.name.clone(), e.value.clone()))
                .collect();
            assert!(
                env.contains(&("SITEHAPAIR_TO".into(), Some("west".into()))),
                "{env:?}"
            );
            assert!(env.contains(&("SITEHAPAIR_EPOCH".into(), Some("4".into()))));
            assert_eq!(env.iter().filter(|(k, _)| k == "SITEHAPAIR_TO").count(), 1);
        }
        assert!(
            pod.containers[0]
                .env
                .iter()
                .flatten()
                .any(|e| e.name == "KEEP")
        );
    }

    #[test]
    fn a_spec_that_is_no_job_spec_is_refused_naming_the_hook() {
        let r = rec();
        let who = JobFor {
            pair: "gis",
            namespace: "ops",
            hook: "certs",
            owner: owner(),
            rec: &r,
        };
        let bad = JobHook {
            spec: json!({"template": "no"}),
        };
        let e = build("x", &bad, &who).expect_err("refused");
        assert!(e.contains("hooks[certs].job.spec"), "{e}");
    }

    #[test]
    fn conditions_say_complete_or_failed() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "status": {"failed": 2, "conditions": [
                {"type": "FailureTarget", "status": "True"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
            ]}
        }))
        .expect("job");
        let s = seen(&job);
        assert!(!s.complete);
        assert_eq!(s.failed_pods, 2);
        assert_eq!(
            s.failed.as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        let done: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        }))
        .expect("job");
        assert!(seen(&done).complete);
    }
}
