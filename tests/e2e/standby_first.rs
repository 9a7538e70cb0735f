//! spec.sync.strategy ShiftTraffic: the whole standby-first procedure on
//! the reference sites and the real control plane. The passive takes the
//! revision and passes its check, traffic (the EndpointSlice) moves to it,
//! the active is changed and checked, traffic moves back. The order of
//! writes, health checks and traffic moves is printed as a trace.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::operator::{FAST_LEASE, Operator};
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{SyncBed, service, site_services};
use crate::support::{kubectl_cmd, testbed, wait_for};

const EAST: &str = "east-token-1";
const CONVERGE: Duration = Duration::from_secs(45);
const EAST_IP: &str = "192.0.2.10";
const WEST_IP: &str = "192.0.2.20";
/// spec.sync.drainTime of the tests' pairs.
const DRAIN: &str = "2s";

/// Every change of the traffic EndpointSlice, as (time, addresses), from a
/// `kubectl get -w` started before the change under test.
struct SliceWatch {
    child: Child,
    seen: Arc<Mutex<Vec<SliceAt>>>,
}

/// When the slice changed, and the addresses it held from then.
type SliceAt = (f64, Vec<String>);

impl SliceWatch {
    fn start(namespace: &str) -> Self {
        let mut child = kubectl_cmd(testbed(), Some(namespace))
            .args(["get", "endpointslice", "gis-ipv4", "-w", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get -w");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        std::thread::spawn(move || {
            let mut buf = String::new();
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                buf.push_str(&line);
                buf.push('\n');
                let Ok(v) = serde_json::from_str::<Value>(&buf) else {
                    continue;
                };
                buf.clear();
                let addrs = addresses(&v);
                if let Ok(mut s) = into.lock()
                    && s.last().is_none_or(|(_, a)| *a != addrs)
                {
                    s.push((now_s(), addrs));
                }
            }
        });
        Self { child, seen }
    }

    fn seen(&self) -> Vec<SliceAt> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Wait until the slice has held `ip` since `after`; returns when.
    fn wait_for(&self, ip: &str, after: f64) -> f64 {
        wait_for(&format!("the EndpointSlice on {ip}"), CONVERGE, || {
            self.seen()
                .into_iter()
                .find(|(t, a)| *t >= after && a == &[ip.to_string()])
                .map(|(t, _)| t)
        })
    }
}

impl Drop for SliceWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addresses(slice: &Value) -> Vec<String> {
    slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

fn now_s() -> f64 {
    jiff::Timestamp::now().as_microsecond() as f64 / 1e6
}

fn secs(t: &str) -> Option<f64> {
    Some(t.parse::<jiff::Timestamp>().ok()?.as_microsecond() as f64 / 1e6)
}

/// One line of the trace.
#[derive(Debug, Clone)]
struct Line {
    at: f64,
    what: String,
}

/// Service writes and health checks of a site since `since`.
fn site_lines(site: &ReferenceSite, since: f64) -> Vec<Line> {
    site.requests()
        .iter()
        .filter_map(|r| {
            let at = secs(r["time"].as_str()?)?;
            let path = r["path"].as_str()?;
            let method = r["method"].as_str()?;
            let write = method != "GET" && path.starts_with("/services/");
            let health = method == "GET" && path == "/health";
            (at >= since && (write || health)).then(|| Line {
                at,
                what: format!("{} {method} {path} -> {}", site.name, r["status"]),
            })
        })
        .collect()
}

/// The operator's own record of each traffic move, since `since`.
fn operator_lines(op: &Operator, since: f64) -> Vec<Line> {
    op.logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("standby-first change"))
        })
        .filter_map(|v| {
            let at = secs(v["timestamp"].as_str()?)?;
            let what = format!(
                "operator: {} {}",
                v["message"].as_str().unwrap_or_default(),
                v["site"].as_str().unwrap_or_default()
            );
            (at >= since).then_some(Line { at, what })
        })
        .collect()
}

fn trace(parts: Vec<Vec<Line>>, slice: &[SliceAt], since: f64) -> Vec<Line> {
    let mut all: Vec<Line> = parts.into_iter().flatten().collect();
    all.extend(
        slice
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(t, a)| Line {
                at: *t,
                what: format!("EndpointSlice gis-ipv4 -> {a:?}"),
            }),
    );
    all.sort_by(|a, b| a.at.total_cmp(&b.at));
    println!("standby-first trace:");
    for l in &all {
        println!("  {:.3}  {}", l.at - since, l.what);
    }
    all
}

/// The index of the first line at or after `from` whose text holds `needle`.
fn index_of(lines: &[Line], from: usize, needle: &str) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.what.contains(needle))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {needle:?} after line {from} in the trace"))
}

fn shift_pair(bed: &SyncBed) -> Value {
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["sync"] = json!({"strategy": "ShiftTraffic", "drainTime": DRAIN});
    pair
}

fn wait_settled(bed: &SyncBed, revision: &str) {
    bed.wait_in_sync(revision, CONVERGE);
    wait_for("the change to end", CONVERGE, || {
        let st = bed.status();
        (st["activeChange"].is_null() && st["trafficSite"] == "east").then_some(())
    });
}

#[test]
fn shift_traffic_moves_traffic_to_the_checked_standby_while_the_active_changes() {
    let mut bed = SyncBed::new("shift-ok", &[("roads", 1), ("parcels", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&shift_pair(&bed));
    wait_settled(&bed, &rev1);
    let epoch = bed.status()["epoch"].clone();
    let watch = SliceWatch::start(&bed.ns.name);
    watch.wait_for(EAST_IP, 0.0);

    let t0 = now_s();
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let back = watch.wait_for(EAST_IP, watch.wait_for(WEST_IP, t0));
    wait_settled(&bed, &rev2);
    assert!(back > t0);

    let op = bed.op.as_ref().expect("operator");
    let lines = trace(
        vec![
            site_lines(&bed.west, t0),
            site_lines(&bed.east, t0),
            operator_lines(op, t0),
        ],
        &watch.seen(),
        t0,
    );
    // The order an administrator follows, each step after the one before.
    let west_write = index_of(&lines, 0, "west PUT /services/roads");
    let west_checked = index_of(&lines, west_write, "west GET /health -> 200");
    let moved = index_of(&lines, west_checked, "traffic moved west");
    let slice_west = index_of(&lines, 0, &format!("[\"{WEST_IP}\"]"));
    let east_write = index_of(&lines, moved, "east PUT /services/roads");
    let east_checked = index_of(&lines, east_write, "east GET /health -> 200");
    let moved_back = index_of(&lines, east_checked, "traffic moved east");
    assert!(
        slice_west > west_checked && slice_west < east_write,
        "the EndpointSlice moved to west at line {slice_west}, outside [{west_checked}, {east_write}]"
    );
    assert!(
        !lines[..moved]
            .iter()
            .any(|l| l.what.starts_with("east PUT") || l.what.starts_with("east DELETE")),
        "east was written before traffic left it"
    );
    assert!(moved_back > east_checked);
    // Traffic rested on west for drainTime (2 s, whole seconds in status)
    // before east was touched.
    let rested = lines[east_write].at - lines[slice_west].at;
    assert!(
        rested >= 1.4,
        "east was written {rested:.3} s after traffic left it"
    );
    // Traffic went east -> west -> east, and nowhere else.
    let slices: Vec<Vec<String>> = watch
        .seen()
        .into_iter()
        .filter(|(t, _)| *t >= t0)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        slices,
        vec![vec![WEST_IP.to_string()], vec![EAST_IP.to_string()]]
    );
    // The role did not change: same active site, same epoch, no promotion.
    let st = bed.status();
    assert_eq!(
        (st["activeSite"].clone(), st["epoch"].clone()),
        (json!("east"), epoch)
    );
    assert!(
        st["history"].as_array().is_none_or(|h| h.is_empty()),
        "{st}"
    );
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 2);
    let to_standby = bed.events("TrafficToStandby");
    assert!(
        to_standby
            .iter()
            .any(|n| n.contains(&rev2[..12]) && n.contains("west")),
        "{to_standby:?}"
    );
    // Every step of the procedure is an Event.
    for reason in ["ChangingActive", "TrafficBack", "ActiveChanged"] {
        let notes = bed.events(reason);
        assert!(
            notes.iter().any(|n| n.contains("east")),
            "{reason}: {notes:?}"
        );
    }
}

#[test]
fn an_active_that_fails_its_check_after_the_change_keeps_traffic_on_the_standby() {
    let services = [("roads", 1), ("parcels", 1), ("hydrants", 1), ("zoning", 1)];
    let mut bed = SyncBed::new("shift-fail", &services);
    // This east breaks when it holds a service called "breaker".
    bed.east.kill();
    bed.east = ReferenceSite::start_with(
        bed.dir.path(),
        "east",
        EAST,
        &["--unhealthy-with-service", "breaker"],
    );
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&shift_pair(&bed));
    wait_settled(&bed, &rev1);
    let watch = SliceWatch::start(&bed.ns.name);

    let t0 = now_s();
    bed.repo
        .write("services/breaker.yaml", &service("breaker", 1));
    let rev2 = bed.repo.commit("a change that breaks east");
    let msg = bed.wait_condition("Degraded", "True", "ActiveFailedCheck", CONVERGE);
    assert!(
        msg.contains("east") && msg.contains("traffic stays on west"),
        "{msg}"
    );
    let st = bed.status();
    assert_eq!(st["activeChange"]["step"], "ActiveFailedCheck", "{st}");
    assert_eq!(st["trafficSite"], "west", "{st}");
    assert_eq!(st["activeSite"], "east", "{st}");
    watch.wait_for(WEST_IP, t0);
    assert_eq!(
        site_services(&bed.east, EAST)["breaker"]["version"],
        1,
        "east took the change"
    );
    let failed = bed.events("ActiveCheckFailed");
    assert!(failed.iter().any(|n| n.contains(&rev2[..12])), "{failed:?}");
    // Traffic stays off east while it fails, trip after trip.
    let stays = now_s();
    wait_for("a few more health checks of east", CONVERGE, || {
        let n = site_lines(&bed.east, stays).len();
        (n >= 3).then_some(())
    });
    assert_eq!(bed.status()["trafficSite"], "west");
    assert!(
        !watch
            .seen()
            .iter()
            .any(|(t, a)| *t > stays && a == &[EAST_IP.to_string()]),
        "traffic went back to a failing east"
    );

    // The fix goes through git: standby first again, then east recovers
    // and traffic comes home.
    bed.repo.remove("services/breaker.yaml");
    let rev3 = bed.repo.commit("revert the breaking change");
    watch.wait_for(EAST_IP, t0);
    wait_settled(&bed, &rev3);
    bed.wait_condition("Degraded", "False", "AsExpected", CONVERGE);
    assert!(site_services(&bed.east, EAST).get("breaker").is_none());
}

/// Every status.activeChange the pair held, as (time, value), from a
/// `kubectl get -w` started before the change under test: a watch sees
/// every write, not a sample of them.
struct ChangeWatch {
    child: Child,
    seen: Arc<Mutex<Vec<(f64, Value)>>>,
}

impl ChangeWatch {
    fn start(namespace: &str) -> Self {
        let mut child = kubectl_cmd(testbed(), Some(namespace))
            .args(["get", "shp", "gis", "-w", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get -w");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        std::thread::spawn(move || {
            let mut buf = String::new();
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                buf.push_str(&line);
                buf.push('\n');
                let Ok(v) = serde_json::from_str::<Value>(&buf) else {
                    continue;
                };
                buf.clear();
                let change = v["status"]["activeChange"].clone();
                if let Ok(mut s) = into.lock()
                    && s.last().is_none_or(|(_, c)| *c != change)
                {
                    s.push((now_s(), change));
                }
            }
        });
        Self { child, seen }
    }

    fn seen(&self) -> Vec<(f64, Value)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service writes (method and path) a site logged since `since`.
fn service_writes_since(site: &ReferenceSite, since: f64) -> Vec<String> {
    site.requests()
        .iter()
        .filter_map(|r| {
            let at = secs(r["time"].as_str()?)?;
            let path = r["path"].as_str()?;
            let method = r["method"].as_str()?;
            (at >= since && method != "GET" && path.starts_with("/services"))
                .then(|| format!("{method} {path}"))
        })
        .collect()
}

#[test]
fn a_killed_operator_resumes_the_standby_first_change_where_it_stood() {
    let mut bed = SyncBed::new("shift-kill", &[("roads", 1), ("parcels", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    let cache = bed.cache_dir();
    let cache = cache.to_str().expect("utf-8");
    let mut args = vec!["--cache-dir", cache];
    args.extend_from_slice(&FAST_LEASE);
    bed.op = Some(Operator::start(&bed.ns.name, "first", &args));
    bed.apply(&shift_pair(&bed));
    wait_settled(&bed, &rev1);
    bed.op = None;

    // This operator dies right after writing ChangingActive, before
    // touching east: traffic is already on west.
    let mut doomed = Operator::start_env(
        &bed.ns.name,
        "doomed",
        &args,
        &[("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE", "ChangingActive")],
    );
    let t0 = now_s();
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let exit = doomed
        .wait_exit(CONVERGE)
        .expect("the operator to exit at its failpoint");
    assert_eq!(exit.code(), Some(86), "{}", doomed.logs());
    let st = bed.status();
    let stood = st["activeChange"].clone();
    assert_eq!(stood["step"], "ChangingActive", "{st}");
    assert_eq!(stood["revision"], json!(rev2), "{st}");
    assert!(stood["startedAt"].is_string(), "{st}");
    assert_eq!(st["trafficSite"], "west", "{st}");
    let slice = bed.ns.get_json("endpointslice/gis-ipv4").expect("slice");
    assert_eq!(addresses(&slice), vec![WEST_IP.to_string()]);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 1);
    // What the doomed operator did: the standby took roads v2 once; the
    // active took nothing.
    assert_eq!(
        service_writes_since(&bed.west, t0),
        vec!["PUT /services/roads".to_string()]
    );
    assert_eq!(service_writes_since(&bed.east, t0), Vec::<String>::new());

    // A new operator finishes the change from the step in status.
    let changes = ChangeWatch::start(&bed.ns.name);
    let slices = SliceWatch::start(&bed.ns.name);
    wait_for(
        "the watches to see the pair and the slice",
        CONVERGE,
        || (!changes.seen().is_empty() && !slices.seen().is_empty()).then_some(()),
    );
    let restarted = now_s();
    bed.op = Some(Operator::start(&bed.ns.name, "heir", &args));
    wait_settled(&bed, &rev2);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 2);
    let slice = bed.ns.get_json("endpointslice/gis-ipv4").expect("slice");
    assert_eq!(addresses(&slice), vec![EAST_IP.to_string()]);
    assert!(!bed.events("ActiveChanged").is_empty());

    // Resumed, not started over: every activeChange the heir wrote is the
    // one that stood (same start, same drain, same revision), at
    // ChangingActive or later; traffic never left west before east was
    // written, and never went anywhere but back to east.
    let seen = changes.seen();
    let steps: Vec<String> = seen
        .iter()
        .map(|(_, c)| c["step"].as_str().unwrap_or("(none)").to_string())
        .collect();
    println!("activeChange steps across the restart: {steps:?}");
    for (_, c) in seen.iter().filter(|(_, c)| !c.is_null()) {
        assert!(
            c["step"] == "ChangingActive" || c["step"] == "TrafficBack",
            "an earlier step was taken again after the restart: {c} (steps {steps:?})"
        );
        for field in ["startedAt", "drainedAt", "revision", "standby", "site"] {
            assert_eq!(
                c[field], stood[field],
                "the change was started over ({field}): {c}, before the kill {stood}"
            );
        }
    }
    assert_eq!(seen.first().map(|(_, c)| c), Some(&stood), "{steps:?}");
    assert!(seen.last().is_some_and(|(_, c)| c.is_null()), "{steps:?}");
    let moves: Vec<Vec<String>> = slices.seen().into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        moves,
        vec![vec![WEST_IP.to_string()], vec![EAST_IP.to_string()]],
        "traffic after the restart"
    );
    // Sites: the standby is not written again; the active takes roads v2
    // exactly once, and only from the heir.
    assert_eq!(
        service_writes_since(&bed.west, restarted),
        Vec::<String>::new(),
        "the standby was written again after the restart"
    );
    assert_eq!(
        service_writes_since(&bed.east, t0),
        vec!["PUT /services/roads".to_string()],
        "east's writes"
    );
    assert_eq!(
        service_writes_since(&bed.east, restarted).len(),
        1,
        "east was written before the heir started"
    );
}
