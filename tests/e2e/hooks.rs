//! Work after a promotion (spec.promotion.hooks) on the real control plane,
//! as a user sees it: an HTTP hook called once with its Secret's token and
//! the promotion in its body; failing hooks retried, reported in status,
//! the HooksSucceeded condition and Events, and the promotion standing;
//! Job hooks run as Jobs the pair owns, finished the way a kubelet would
//! (the test bed has no node), their result read back; and an operator
//! killed between recording a hook's attempt and making it, resumed by the
//! next without losing the hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::hostile_site::{Answer, HostileSite};
use crate::support::operator::{FAST_LEASE, Operator};
use crate::support::pair::Pair;
use crate::support::secrets::create_secret;
use crate::support::status::WAIT;
use crate::support::{Namespace, base_pair, condition, stderr, wait_for};

const TOKEN: &str = "hook-token-s3cr3t";

/// The status row of hook `name` (Null when absent).
fn row(st: &Value, name: &str) -> Value {
    st["hooks"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

/// The Secret holding the hooks' bearer token.
fn token_secret(p: &Pair) {
    create_secret(&p.ns, "hook-token", &[("token", TOKEN)]);
}

fn http_hook(name: &str, url: &str, attempts: i32) -> Value {
    json!({
        "name": name,
        "http": {"url": url, "tokenSecretRef": {"name": "hook-token"}},
        "attempts": attempts,
        "backoff": "1s",
    })
}

fn with_hooks(hooks: Value) -> impl FnOnce(&mut Value) {
    move |pair: &mut Value| pair["spec"]["promotion"] = json!({ "hooks": hooks })
}

fn pair_meta(p: &Pair) -> Value {
    p.ns.get_json("shp/gis")
        .map(|o| o["metadata"].clone())
        .unwrap_or(Value::Null)
}

/// Wait for an Event of `reason` whose note contains `text`.
fn wait_event(p: &Pair, reason: &str, text: &str) -> String {
    wait_for(&format!("a {reason} Event saying {text:?}"), WAIT, || {
        p.events(reason).into_iter().find(|n| n.contains(text))
    })
}

#[test]
fn an_http_hook_is_called_once_after_a_promotion_with_its_token_and_the_promotion() {
    let server = HostileSite::start(|_, _| Answer::Now {
        status: 200,
        body: r#"{"ok": true}"#.into(),
    });
    let url = format!("{}/after-promotion", server.url);
    let p = Pair::start(
        "hooks-http",
        with_hooks(json!([http_hook("notify", &url, 3)])),
    );
    token_secret(&p);
    // The first activation of the pair runs no hook.
    assert!(server.requests().is_empty());
    assert!(p.status()["hooks"].is_null(), "{}", p.status());

    p.promote("west");
    let st = p.wait_status("the hook to succeed", |st| {
        row(st, "notify")["phase"] == "Succeeded"
    });
    let r = row(&st, "notify");
    assert_eq!(r["epoch"], 2, "{r}");
    assert_eq!(r["attempts"], 1, "{r}");
    assert_eq!(r["message"], "HTTP 200", "{r}");
    assert!(r["lastAttemptAt"].is_string(), "{r}");
    assert!(r["nextAttemptAt"].is_null(), "{r}");
    assert_eq!(st["activeSite"], "west");

    let calls = server.requests();
    assert_eq!(calls.len(), 1, "exactly one call: {calls:?}");
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/after-promotion")
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(call.header("authorization"), Some(bearer.as_str()));
    let meta = pair_meta(&p);
    let id = format!("{}-e2-notify", meta["uid"].as_str().expect("uid"));
    assert_eq!(call.header("idempotency-key"), Some(id.as_str()));
    assert_eq!(call.header("x-sitehapair-hook-id"), Some(id.as_str()));
    assert_eq!(call.header("x-sitehapair-attempt"), Some("1"));
    let body: Value = serde_json::from_str(&call.body).expect("a JSON body");
    let last = st["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .expect("the promotion in history");
    assert_eq!(body["pair"], "gis");
    assert_eq!(body["namespace"], p.ns.name.as_str());
    assert_eq!(body["from"], "east");
    assert_eq!(body["to"], "west");
    assert_eq!(body["epoch"], 2);
    assert_eq!(body["reason"], "Manual");
    assert_eq!(body["hook"], "notify");
    assert_eq!(body["completedAt"], last["completedAt"]);

    let c = condition(&st, "HooksSucceeded");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("True"), Some("Succeeded")),
        "{c}"
    );
    assert_eq!(c["observedGeneration"], meta["generation"], "{c}");
    wait_event(
        &p,
        "HookSucceeded",
        "hook notify of the promotion at epoch 2 succeeded",
    );
    // The token is in no status and no Event.
    assert!(!p.status().to_string().contains(TOKEN));
    let notes = p.events("HookSucceeded").join("\n");
    assert!(!notes.contains(TOKEN), "{notes}");
}

#[test]
fn a_failing_hook_is_retried_and_reported_and_the_promotion_stands() {
    let flaky = Arc::new(AtomicUsize::new(0));
    let seen = flaky.clone();
    let server = HostileSite::start(move |_, path| match path {
        "/flaky" if seen.fetch_add(1, Ordering::SeqCst) == 0 => Answer::Now {
            status: 503,
            body: "warming up".into(),
        },
        "/flaky" => Answer::Now {
            status: 204,
            body: String::new(),
        },
        _ => Answer::Now {
            status: 500,
            body: r#"{"error": "store offline"}"#.into(),
        },
    });
    let hooks = json!([
        http_hook("notify", &format!("{}/notify", server.url), 2),
        http_hook("flaky", &format!("{}/flaky", server.url), 3),
    ]);
    let p = Pair::start("hooks-fail", with_hooks(hooks));
    token_secret(&p);
    p.promote("west");
    let st = p.wait_status("notify Failed and flaky Succeeded", |st| {
        row(st, "notify")["phase"] == "Failed" && row(st, "flaky")["phase"] == "Succeeded"
    });

    // The promotion stands.
    assert_eq!(st["activeSite"], "west", "{st}");
    assert!(st["promotion"].is_null(), "{st}");
    let last = st["history"].as_array().and_then(|h| h.last()).cloned();
    assert_eq!(
        last.map(|l| (l["to"].clone(), l["epoch"].clone())),
        Some((json!("west"), json!(2)))
    );
    let ready = condition(&st, "Ready");
    assert_eq!(ready["status"], "True", "{ready}");

    // Retried: two calls each, one Idempotency-Key per hook.
    let notify = server.requests_to("/notify");
    assert_eq!(notify.len(), 2, "{notify:?}");
    let attempts: Vec<Option<&str>> = notify
        .iter()
        .map(|c| c.header("x-sitehapair-attempt"))
        .collect();
    assert_eq!(attempts, [Some("1"), Some("2")]);
    assert_eq!(
        notify[0].header("idempotency-key"),
        notify[1].header("idempotency-key")
    );
    assert_eq!(server.requests_to("/flaky").len(), 2);

    let n = row(&st, "notify");
    assert_eq!(n["attempts"], 2, "{n}");
    assert_eq!(n["message"], "HTTP 500: store offline", "{n}");
    assert!(n["nextAttemptAt"].is_null(), "{n}");
    assert_eq!(row(&st, "flaky")["attempts"], 2);

    let c = condition(&st, "HooksSucceeded");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("HookFailed")),
        "{c}"
    );
    let message = c["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("notify: HTTP 500: store offline") && !message.contains("flaky:"),
        "{message}"
    );

    wait_event(
        &p,
        "HookFailed",
        "hook notify of the promotion at epoch 2: attempt 1 of 2 failed: HTTP 500: store offline; next attempt at",
    );
    wait_event(
        &p,
        "HookFailed",
        "hook notify of the promotion at epoch 2 failed after 2 attempts: HTTP 500: store offline; the promotion stands",
    );
    wait_event(
        &p,
        "HookFailed",
        "hook flaky of the promotion at epoch 2: attempt 1 of 3 failed: HTTP 503: warming up",
    );
    wait_event(
        &p,
        "HookSucceeded",
        "hook flaky of the promotion at epoch 2 succeeded (attempt 2)",
    );
}

/// Finish the pod of Job `job` as a kubelet would: its phase in status.
fn finish_pod(p: &Pair, job: &str, phase: &str) {
    let selector = format!("batch.kubernetes.io/job-name={job}");
    let pod = wait_for(&format!("the pod of Job {job}"), WAIT, || {
        let out =
            p.ns.kubectl(&["get", "pods", "-l", &selector, "-o", "json"]);
        let list: Value = serde_json::from_str(&out).ok()?;
        list["items"][0]["metadata"]["name"]
            .as_str()
            .map(str::to_string)
    });
    p.ns.kubectl(&[
        "patch",
        "pod",
        &pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &json!({"status": {"phase": phase}}).to_string(),
    ]);
}

#[test]
fn job_hooks_run_as_jobs_the_pair_owns_and_report_how_they_ended() {
    let job = |name: &str| {
        json!({"name": name, "job": {"spec": {
            "backoffLimit": 0,
            "template": {"spec": {"containers": [
                {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo $SITEHAPAIR_TO"]}
            ]}}
        }}})
    };
    let p = Pair::start(
        "hooks-job",
        with_hooks(json!([job("certs"), job("boot-media")])),
    );
    p.promote("west");
    let uid = pair_meta(&p)["uid"].clone();
    for (hook, name) in [
        ("certs", "gis-certs-e2"),
        ("boot-media", "gis-boot-media-e2"),
    ] {
        let j = wait_for(&format!("Job {name}"), WAIT, || {
            p.ns.get_json(&format!("job/{name}"))
        });
        let labels = &j["metadata"]["labels"];
        assert_eq!(labels["sitehapair.io/pair"], "gis", "{labels}");
        assert_eq!(labels["sitehapair.io/hook"], hook, "{labels}");
        assert_eq!(labels["sitehapair.io/epoch"], "2", "{labels}");
        let owner = &j["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                &owner["kind"],
                &owner["name"],
                &owner["uid"],
                &owner["controller"]
            ),
            (&json!("SiteHAPair"), &json!("gis"), &uid, &json!(true)),
            "{owner}"
        );
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let env: Vec<(String, String)> = pod["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("name"), s("value"))
            })
            .collect();
        for want in [
            ("SITEHAPAIR_PAIR", "gis"),
            ("SITEHAPAIR_FROM", "east"),
            ("SITEHAPAIR_TO", "west"),
            ("SITEHAPAIR_EPOCH", "2"),
            ("SITEHAPAIR_HOOK", hook),
        ] {
            assert!(
                env.contains(&(want.0.to_string(), want.1.to_string())),
                "{want:?} in {env:?}"
            );
        }
    }
    let st = p.wait_status("both hooks Running with their Jobs", |st| {
        row(st, "certs")["job"] == "gis-certs-e2"
            && row(st, "boot-media")["job"] == "gis-boot-media-e2"
            && row(st, "certs")["phase"] == "Running"
            && row(st, "boot-media")["phase"] == "Running"
    });
    let c = condition(&st, "HooksSucceeded");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("Unknown"), Some("HooksRunning")),
        "{c}"
    );

    // As a kubelet would: one pod succeeds, the other fails (no retries).
    finish_pod(&p, "gis-certs-e2", "Succeeded");
    finish_pod(&p, "gis-boot-media-e2", "Failed");
    let st = p.wait_status("certs Succeeded and boot-media Failed", |st| {
        row(st, "certs")["phase"] == "Succeeded" && row(st, "boot-media")["phase"] == "Failed"
    });
    assert_eq!(row(&st, "certs")["message"], "Job gis-certs-e2 complete");
    let failed = row(&st, "boot-media");
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Job gis-boot-media-e2 failed: BackoffLimitExceeded")),
        "{failed}"
    );
    assert_eq!(st["activeSite"], "west");
    let c = condition(&st, "HooksSucceeded");
    assert_eq!(c["status"], "False", "{c}");
    assert!(
        c["message"]
            .as_str()
            .is_some_and(|m| m.contains("boot-media: Job gis-boot-media-e2 failed")),
        "{c}"
    );
    wait_event(
        &p,
        "HookSucceeded",
        "hook certs of the promotion at epoch 2 succeeded",
    );
    wait_event(
        &p,
        "HookFailed",
        "hook boot-media of the promotion at epoch 2 failed: Job gis-boot-media-e2 failed",
    );
}

#[test]
#[cfg_attr(
    not(feature = "failpoints"),
    ignore = "the crash switch is compiled only with --features failpoints (scripts/test.sh turns it on)"
)]
fn an_operator_killed_before_a_hook_call_is_resumed_and_the_hook_is_not_lost() {
    let server = HostileSite::start(|_, _| Answer::Now {
        status: 200,
        body: "{}".into(),
    });
    let url = format!("{}/after-promotion", server.url);
    let mut p = Pair::start_with(
        "hooks-resume",
        with_hooks(json!([http_hook("notify", &url, 3)])),
        &FAST_LEASE,
    );
    token_secret(&p);
    // This operator dies right after recording the hook's attempt.
    p.op = None;
    let mut doomed = Operator::start_env(
        &p.ns.name,
        "doomed",
        &FAST_LEASE,
        &[("SITEHAPAIR_FAILPOINT_EXIT_BEFORE_HOOK", "notify")],
    );
    p.promote("west");
    let exit = doomed
        .wait_exit(WAIT)
        .expect("the operator to exit at its failpoint");
    assert_eq!(exit.code(), Some(86), "{}", doomed.logs());
    // The promotion and the hook's attempt were written together, before the call.
    let st = p.status();
    assert_eq!(st["activeSite"], "west", "{st}");
    let r = row(&st, "notify");
    assert_eq!(
        (&r["phase"], &r["attempts"]),
        (&json!("Running"), &json!(1))
    );
    assert!(server.requests().is_empty());

    p.op = Some(Operator::start(&p.ns.name, "heir", &FAST_LEASE));
    let st = p.wait_status("the hook to succeed after the restart", |st| {
        row(st, "notify")["phase"] == "Succeeded"
    });
    assert_eq!(row(&st, "notify")["attempts"], 2);
    let calls = server.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].header("x-sitehapair-attempt"), Some("2"));
    wait_event(&p, "HookFailed", "was not recorded");
}

/// Apply `hooks` on a valid pair: the API server's error text, or None
/// when it accepts them.
fn refusal(ns: &Namespace, name: &str, hooks: Value) -> Option<String> {
    let mut pair = base_pair(name);
    pair["spec"]["promotion"] = json!({ "hooks": hooks });
    let out = ns.apply(&pair.to_string());
    (!out.status.success()).then(|| stderr(&out))
}

#[test]
fn hook_specs_are_checked_by_the_api_server_and_explained() {
    let ns = Namespace::new("hooks-valid");
    let job =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    let http = json!({"url": "https://hooks.example/after"});
    assert_eq!(
        refusal(
            &ns,
            "ok",
            json!([{"name": "a", "http": http}, {"name": "b", "job": job}])
        ),
        None
    );
    let stored = ns.get_json("shp/ok").expect("the pair");
    let a = &stored["spec"]["promotion"]["hooks"][0];
    assert_eq!(
        (&a["attempts"], &a["backoff"], &a["http"]["timeout"]),
        (&json!(3), &json!("10s"), &json!("10s")),
        "defaults: {a}"
    );
    let cases = [
        (
            "both",
            json!([{"name": "a", "http": http, "job": job}]),
            "set exactly one of http or job on each hook",
        ),
        (
            "neither",
            json!([{"name": "a"}]),
            "set exactly one of http or job on each hook",
        ),
        (
            "twice",
            json!([{"name": "a", "http": http}, {"name": "a", "job": job}]),
            "every hook name must be unique",
        ),
        (
            "ftp",
            json!([{"name": "a", "http": {"url": "ftp://hooks.example/x"}}]),
            "spec.promotion.hooks[0].http.url",
        ),
        (
            "fast",
            json!([{"name": "a", "http": http, "backoff": "100ms"}]),
            "backoff must be a duration of at least 1s",
        ),
        (
            "slow",
            json!([{"name": "a", "http": {"url": "https://h.example/x", "timeout": "5m"}}]),
            "http.timeout must be a duration from 1s to 60s",
        ),
        (
            "many",
            json!([{"name": "a", "http": http, "attempts": 11}]),
            "spec.promotion.hooks[0].attempts",
        ),
        (
            "bad-name",
            json!([{"name": "Notify_DNS", "http": http}]),
            "spec.promotion.hooks[0].name",
        ),
        (
            "nine",
            Value::Array(
                (0..9)
                    .map(|i| json!({"name": format!("h{i}"), "http": http}))
                    .collect(),
            ),
            "must have at most 8 items",
        ),
    ];
    for (name, hooks, needle) in cases {
        let err = refusal(&ns, name, hooks).unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(
            err.contains(needle),
            "{name}: error lacks {needle:?}:\n{err}"
        );
    }
    let text = ns.kubectl(&["explain", "shp.spec.promotion.hooks"]);
    for needle in [
        "Work after a promotion",
        "Initial",
        "http",
        "job",
        "attempts",
    ] {
        assert!(text.contains(needle), "explain lacks {needle:?}:\n{text}");
    }
    let text = ns.kubectl(&["explain", "shp.status.hooks.phase"]);
    assert!(text.contains("Abandoned"), "{text}");
}
