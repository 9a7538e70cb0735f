//! Sites that misbehave, against a real control plane with the operator as
//! a process: a site that answers a byte a second, one that redirects to
//! another host, one whose certificate no trusted CA signed, one whose
//! answer never ends, one whose error text is long and echoes a password;
//! and a site whose private CA is given in caSecretRef, which is trusted.
//! Each hostile site is a `HostileSite` (support/hostile_site.rs) beside a
//! healthy reference site: the pair carries on, the hostile site's row in
//! status.sites says what is wrong, the sibling is still observed, and no
//! write reaches any site.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sitehapair::sites::http::MAX_MESSAGE;

use crate::support::git::GitRepo;
use crate::support::hostile_site::{Answer, Ended, HostileSite};
use crate::support::operator::Operator;
use crate::support::secrets::create_secret;
use crate::support::site::ReferenceSite;
use crate::support::status::{WAIT, pair_status, wait_status};
use crate::support::syncbed::service;
use crate::support::{Namespace, condition, site_row as row, stderr, wait_for};

/// One test's namespace, operator and files.
struct Bed {
    ns: Namespace,
    op: Operator,
    dir: tempfile::TempDir,
}

impl Bed {
    fn new(prefix: &str) -> Self {
        let ns = Namespace::new(prefix);
        let op = Operator::start(&ns.name, "op", &[]);
        let dir = tempfile::tempdir().expect("tempdir");
        Self { ns, op, dir }
    }

    /// A reference site over HTTP named `name`, with its token Secret.
    fn reference_site(&self, name: &str) -> ReferenceSite {
        self.token_secret(name);
        ReferenceSite::start(self.dir.path(), name, &token(name))
    }

    /// The Secret `<name>-admin` holding the site's token.
    fn token_secret(&self, name: &str) {
        create_secret(
            &self.ns,
            &format!("{name}-admin"),
            &[("token", &token(name))],
        );
    }

    /// Apply the pair `gis`: these (name, adminUrl) sites, the first active,
    /// checked every second with a one-second health timeout.
    fn apply_pair(&self, sites: &[(&str, &str)], tweak: impl FnOnce(&mut Value)) {
        let sites: Vec<Value> = sites
            .iter()
            .enumerate()
            .map(|(i, (name, url))| {
                json!({"name": name, "adminUrl": url,
                       "credentialsSecretRef": {"name": format!("{name}-admin")},
                       "trafficAddresses": [format!("192.0.2.{}", 10 + i)]})
            })
            .collect();
        let mut pair = json!({
            "apiVersion": "sitehapair.io/v1alpha1",
            "kind": "SiteHAPair",
            "metadata": {"name": "gis"},
            "spec": {
                "activeSite": sites[0]["name"],
                "sites": sites,
                "healthCheck": {"interval": "1s", "timeout": "1s"},
            }
        });
        tweak(&mut pair);
        let out = self.ns.apply(&pair.to_string());
        assert!(out.status.success(), "apply: {}", stderr(&out));
    }

    fn status(&self) -> Value {
        pair_status(&self.ns, "gis")
    }

    /// Wait until `ok` holds of the status; returns it.
    fn wait_status(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_status(&self.ns, "gis", what, ok)
    }

    /// Every events.k8s.io Event note in the namespace.
    fn event_notes(&self) -> Vec<String> {
        let list = self
            .ns
            .get_json("events.events.k8s.io")
            .unwrap_or(Value::Null);
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["note"].as_str().map(str::to_string))
            .collect()
    }
}

fn token(site: &str) -> String {
    format!("{site}-token-0b5cure")
}

fn message(row: &Value) -> &str {
    row["message"].as_str().unwrap_or_default()
}

/// The sibling is observed: it answers, is healthy and tells its mode.
fn observed_healthy(row: &Value) -> bool {
    row["contact"] == "Answered" && row["health"] == "Healthy" && row["mode"] == "Passive"
}

/// No write (anything but GET) reached a reference site or a hostile one.
fn assert_nothing_written(sites: &[&ReferenceSite], hostile: &[&HostileSite]) {
    for s in sites {
        let writes: Vec<Value> = s
            .requests()
            .into_iter()
            .filter(|r| r["method"] != "GET")
            .collect();
        assert!(writes.is_empty(), "{} was written: {writes:?}", s.name);
    }
    for h in hostile {
        assert_eq!(h.writes(), Vec::<String>::new(), "{} was written", h.url);
    }
}

#[test]
fn a_site_sending_a_byte_a_second_is_cut_off_by_the_timeouts_and_the_sibling_still_observed() {
    // west drips every answer; north answers its health check at once and
    // drips the rest. Each body would take 100 s to send whole.
    let slow = format!(
        "{{\"mode\": \"passive\", \"epoch\": 0, \"pad\": \"{}\"}}",
        "x".repeat(64)
    );
    assert!(slow.len() >= 100);
    let body = slow.clone();
    let west = HostileSite::start(move |_, _| Answer::Drip { body: body.clone() });
    let body = slow.clone();
    let north = HostileSite::start(move |_, path| match path {
        "/health" => Answer::Now {
            status: 200,
            body: r#"{"status": "ok"}"#.into(),
        },
        _ => Answer::Drip { body: body.clone() },
    });
    let bed = Bed::new("slow-site");
    let east = bed.reference_site("east");
    bed.token_secret("west");
    bed.token_secret("north");
    bed.apply_pair(
        &[
            ("east", &east.url),
            ("west", &west.url),
            ("north", &north.url),
        ],
        |_| {},
    );

    // West's health check is cut off by its timeout (1 s): unhealthy, and
    // never silent, since only the admin API decides that. Both west's and
    // north's GET /mode answered a head and then dripped past the per-call
    // timeout (15 s): they spoke, so they are failing, not silent.
    let st = bed.wait_status("rows for all three sites", |st| {
        observed_healthy(row(st, "east"))
            && row(st, "west")["contact"] == "Failing"
            && row(st, "north")["contact"] == "Failing"
    });
    let (w, n) = (row(&st, "west"), row(&st, "north"));
    assert_eq!(w["health"], "Unhealthy", "{st}");
    assert!(
        message(w).contains("site west: GET /health: timed out after 1000 ms"),
        "{st}"
    );
    for (name, r) in [("west", w), ("north", n)] {
        assert!(
            message(r).contains(&format!(
                "site {name}: GET /mode: broken: the answer was cut short"
            )),
            "{st}"
        );
    }
    assert_eq!(n["mode"], "Unknown", "{st}");

    // The reconcile is not stuck behind the slow calls: north is asked
    // again after its first GET /mode was cut off, and every cut-off call
    // ended with the operator hanging up, long before its body was whole.
    wait_for("a second GET /mode on north", WAIT, || {
        (north.requests_to("/mode").len() >= 2).then_some(())
    });
    let first = wait_for("the first GET /mode on north to end", WAIT, || {
        north
            .requests_to("/mode")
            .into_iter()
            .next()
            .filter(|r| r.ended != Ended::Running)
    });
    assert_eq!(first.ended, Ended::ClientClosed, "{first:?}");
    let took = first.took.unwrap_or_default();
    assert!(
        took >= Duration::from_secs(14) && took < Duration::from_secs(30),
        "{first:?}"
    );
    assert!(first.sent < slow.len() as u64, "{first:?}");
    let health = wait_for("the first GET /health on west to end", WAIT, || {
        west.requests_to("/health")
            .into_iter()
            .next()
            .filter(|r| r.ended != Ended::Running)
    });
    assert_eq!(health.ended, Ended::ClientClosed, "{health:?}");
    assert!(health.sent < slow.len() as u64, "{health:?}");

    // No site is made active while two have not told their mode, and
    // nothing is written anywhere.
    let st = bed.status();
    assert!(st["activeSite"].is_null(), "{st}");
    assert_nothing_written(&[&east], &[&west, &north]);
}

#[test]
fn a_redirect_is_not_followed_and_the_other_host_never_gets_the_token() {
    let elsewhere = HostileSite::start(|_, _| Answer::Now {
        status: 200,
        body: r#"{"status": "ok", "mode": "passive", "epoch": 0}"#.into(),
    });
    let target = elsewhere.url.clone();
    // The open health check answers; every call that carries the token is
    // redirected.
    let west = HostileSite::start(move |_, path| match path {
        "/health" => Answer::Now {
            status: 200,
            body: r#"{"status": "ok"}"#.into(),
        },
        _ => Answer::Redirect {
            status: 307,
            location: format!("{target}{path}"),
        },
    });
    let bed = Bed::new("redirect-site");
    let east = bed.reference_site("east");
    bed.token_secret("west");
    bed.apply_pair(&[("east", &east.url), ("west", &west.url)], |_| {});

    let st = bed.wait_status("west failing on its redirect", |st| {
        observed_healthy(row(st, "east")) && row(st, "west")["contact"] == "Failing"
    });
    let m = message(row(&st, "west"));
    assert!(
        m.contains(&format!(
            "site west: GET /mode: HTTP 307: the site answers with a redirect to {}/mode, which is not followed",
            elsewhere.url
        )),
        "{st}"
    );
    let degraded = condition(&st, "Degraded");
    assert_eq!(degraded["status"], "True", "{st}");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap_or_default()
            .contains("redirect"),
        "{st}"
    );

    // West is asked again and again, each time with its token; the host it
    // points to never sees a connection.
    wait_for("three redirected requests on west", WAIT, || {
        (west.requests().iter().filter(|r| r.path == "/mode").count() >= 3).then_some(())
    });
    let reqs = west.requests();
    assert!(reqs.iter().filter(|r| r.path == "/mode").all(|r| r.bearer));
    assert!(
        reqs.iter()
            .filter(|r| r.path == "/health")
            .all(|r| !r.bearer)
    );
    assert_eq!(elsewhere.connections(), 0);
    assert!(!bed.status().to_string().contains(&token("west")));
    assert_nothing_written(&[&east], &[&west, &elsewhere]);
}

/// A CA, and a certificate with its key for 127.0.0.1 and localhost signed
/// by it, as PEM files in `dir` (`<name>-ca.pem`, `<name>-cert.pem`, `<name>-key.pem`).
struct TestCa {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("sitehapair test CA {name}"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("leaf params");
        leaf.distinguished_name
            .push(DnType::CommonName, format!("site of {name}"));
        let leaf_cert = leaf
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate");
        let out = Self {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&out.ca, ca_cert.pem()).expect("write CA");
        std::fs::write(&out.cert, leaf_cert.pem()).expect("write certificate");
        std::fs::write(&out.key, leaf_key.serialize_pem()).expect("write key");
        out
    }

    /// The Secret `secret` with the CA certificate under `ca.crt`.
    fn secret(&self, ns: &Namespace, secret: &str) {
        ns.kubectl(&[
            "create",
            "secret",
            "generic",
            secret,
            &format!("--from-file=ca.crt={}", self.ca.display()),
        ]);
    }
}

#[test]
fn a_certificate_no_trusted_ca_signed_is_refused_before_any_request() {
    let bed = Bed::new("unknown-ca");
    let trusted = TestCa::new(bed.dir.path(), "trusted");
    let stranger = TestCa::new(bed.dir.path(), "stranger");
    trusted.secret(&bed.ns, "sites-ca");
    let east = bed.reference_site("east");
    // west names the trusted CA in caSecretRef, north none (platform roots);
    // both serve a certificate the stranger CA signed.
    for name in ["west", "north"] {
        bed.token_secret(name);
    }
    let start = |name: &str| {
        ReferenceSite::start_tls(
            bed.dir.path(),
            name,
            &token(name),
            &stranger.cert,
            &stranger.key,
            "127.0.0.1",
        )
    };
    let (west, north) = (start("west"), start("north"));
    bed.apply_pair(
        &[
            ("east", &east.url),
            ("west", &west.url),
            ("north", &north.url),
        ],
        |p| p["spec"]["sites"][1]["caSecretRef"] = json!({"name": "sites-ca", "key": "ca.crt"}),
    );

    // A certificate the CA does not sign is an answer (the site sent it):
    // failing, never silent, and said so.
    let st = bed.wait_status("west and north refused", |st| {
        observed_healthy(row(st, "east"))
            && ["west", "north"]
                .iter()
                .all(|n| row(st, n)["contact"] == "Failing")
    });
    for name in ["west", "north"] {
        let r = row(&st, name);
        assert_eq!(r["health"], "Unhealthy", "{st}");
        let m = message(r);
        assert!(
            m.starts_with(&format!("site {name}: GET /mode: broken: TLS"))
                && m.contains("certificate")
                && m.contains("UnknownIssuer"),
            "{st}"
        );
    }
    // Not one HTTP request got through, so the token never left.
    for s in [&west, &north] {
        assert!(s.requests().is_empty(), "{}: {:?}", s.name, s.requests());
    }
    assert!(st["activeSite"].is_null(), "{st}");
    assert_nothing_written(&[&east, &west, &north], &[]);
}

#[test]
fn a_site_certificate_from_the_private_ca_in_ca_secret_ref_is_trusted_and_the_pair_syncs() {
    let bed = Bed::new("private-ca");
    let ca = TestCa::new(bed.dir.path(), "private");
    ca.secret(&bed.ns, "sites-ca");
    for name in ["east", "west"] {
        bed.token_secret(name);
    }
    // The certificate names 127.0.0.1 and localhost: east is reached by its
    // address, west by its name.
    let east = ReferenceSite::start_tls(
        bed.dir.path(),
        "east",
        &token("east"),
        &ca.cert,
        &ca.key,
        "127.0.0.1",
    );
    let west = ReferenceSite::start_tls(
        bed.dir.path(),
        "west",
        &token("west"),
        &ca.cert,
        &ca.key,
        "localhost",
    );
    let repo = GitRepo::new(bed.dir.path(), "services");
    repo.write("services/roads.yaml", &service("roads", 1));
    repo.write("services/parcels.yaml", &service("parcels", 1));
    let rev = repo.commit("two services");
    bed.apply_pair(&[("east", &east.url), ("west", &west.url)], |p| {
        for i in 0..2 {
            p["spec"]["sites"][i]["caSecretRef"] = json!({"name": "sites-ca", "key": "ca.crt"});
        }
        p["spec"]["source"] = json!({"git": {"url": repo.file_url(), "ref": {"branch": "main"},
                                             "path": "services", "interval": "5s"}});
    });

    let st = bed.wait_status("Ready and InSync over TLS", |st| {
        condition(st, "Ready")["status"] == "True"
            && condition(st, "InSync")["status"] == "True"
            && ["east", "west"]
                .iter()
                .all(|n| row(st, n)["syncedRevision"] == rev.as_str())
    });
    assert_eq!(st["activeSite"], "east", "{st}");
    assert_eq!(st["epoch"], 1, "{st}");
    assert_eq!(row(&st, "east")["mode"], "Active", "{st}");
    assert_eq!(row(&st, "west")["mode"], "Passive", "{st}");
    for s in [&east, &west] {
        let puts: Vec<String> = s
            .requests()
            .iter()
            .filter(|r| r["method"] == "PUT")
            .filter_map(|r| r["path"].as_str().map(str::to_string))
            .collect();
        for want in ["/services/roads", "/services/parcels"] {
            assert!(puts.iter().any(|p| p == want), "{}: {puts:?}", s.name);
        }
    }
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn an_answer_that_never_ends_is_cut_at_the_size_cap_and_the_operator_stays_small() {
    let west = HostileSite::start(|_, path| match path {
        "/mode" => Answer::Endless,
        _ => Answer::Now {
            status: 200,
            body: r#"{"status": "ok"}"#.into(),
        },
    });
    let bed = Bed::new("endless-site");
    let east = bed.reference_site("east");
    bed.token_secret("west");
    bed.apply_pair(&[("east", &east.url), ("west", &west.url)], |_| {});

    let st = bed.wait_status("west failing on its endless answer", |st| {
        observed_healthy(row(st, "east")) && row(st, "west")["contact"] == "Failing"
    });
    assert!(
        message(row(&st, "west")).contains(
            "site west: GET /mode: unexpected answer: the answer is larger than 1048576 bytes"
        ),
        "{st}"
    );

    // Three endless answers, each given up by the operator soon after the
    // cap (what is left in flight is the sockets' buffers), and the
    // operator still serves and stays small.
    wait_for(
        "three endless answers given up by the operator",
        WAIT,
        || {
            let done: Vec<_> = west
                .requests_to("/mode")
                .into_iter()
                .filter(|r| r.ended != Ended::Running)
                .collect();
            (done.len() >= 3).then_some(())
        },
    );
    for r in west
        .requests_to("/mode")
        .iter()
        .filter(|r| r.ended != Ended::Running)
    {
        assert_eq!(r.ended, Ended::ClientClosed, "{r:?}");
        assert!(r.sent > 1024 * 1024 && r.sent < 32 * 1024 * 1024, "{r:?}");
    }
    assert!(
        bed.op.http_get("/healthz").is_some(),
        "operator stopped serving"
    );
    let pid = bed.op.pid().expect("operator running");
    let rss = rss_kib(pid).expect("operator RSS");
    assert!(rss < 256 * 1024, "operator RSS {rss} KiB");
    assert_nothing_written(&[&east], &[&west]);
}

#[test]
fn a_long_error_text_reaches_status_and_events_trimmed_and_its_echoed_password_never() {
    let password = format!("hunter2-{}", std::process::id());
    // A 10 kB error echoing a service definition with its password first,
    // then a marker after the first MAX_MESSAGE characters.
    let definition = json!({"name": "roads", "type": "MapServer",
                            "connection": {"user": "gis", "password": password}});
    let mut text = format!("could not apply service {definition}: ");
    text.push_str(&"the stack unwinds; ".repeat(20));
    assert!(text.chars().count() > MAX_MESSAGE);
    text.push_str("PAST-THE-CUT ");
    while text.len() < 10_000 {
        text.push_str("more of the same; ");
    }
    let body = json!({"error": text}).to_string();
    let west = HostileSite::start(move |_, _| Answer::Now {
        status: 500,
        body: body.clone(),
    });
    let bed = Bed::new("echo-site");
    let east = bed.reference_site("east");
    bed.token_secret("west");
    bed.apply_pair(&[("east", &east.url), ("west", &west.url)], |_| {});

    let st = bed.wait_status("west failing with HTTP 500", |st| {
        observed_healthy(row(st, "east")) && row(st, "west")["contact"] == "Failing"
    });
    // The row says what the admin API answered, then what the health
    // check did: each trimmed, each with the password masked.
    let m = message(row(&st, "west"));
    let (admin, health) = m
        .split_once("; health check: ")
        .unwrap_or_else(|| panic!("both calls are told: {m}"));
    for (said, call) in [(admin, "GET /mode"), (health, "GET /health")] {
        let head = format!("site west: {call}: HTTP 500: ");
        assert!(
            said.starts_with(&format!("{head}could not apply service {{")),
            "{m}"
        );
        assert!(said.contains(r#""password":"***""#), "{m}");
        assert!(said.ends_with('…'), "{m}");
        assert!(said.chars().count() <= head.len() + MAX_MESSAGE + 1, "{m}");
    }

    // The Events say it too, as trimmed.
    let notes = wait_for("an Event naming the HTTP 500", WAIT, || {
        let notes = bed.event_notes();
        notes
            .iter()
            .any(|n| n.contains("HTTP 500: could not apply service"))
            .then_some(notes)
    });
    let log = bed.op.logs();
    let places = [
        ("status", bed.status().to_string()),
        ("Events", notes.join("\n")),
        ("operator log", log),
    ];
    for (place, content) in &places {
        assert!(!content.contains(&password), "{place} holds the password");
        assert!(
            !content.contains("PAST-THE-CUT"),
            "{place} holds text past the cut"
        );
    }
    assert_nothing_written(&[&east], &[&west]);
}
