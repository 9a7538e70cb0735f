//! The chart's pods on a real node (tests/testbed/node): the operator image
//! written here (tests/testbed/node/image-archive, the Dockerfile's layout)
//! from the binary this run built, imported into the node; `helm install`
//! with the chart's defaults apart from the image, then
//! manifests/install.yaml. Pods Running and Ready under the chart's security
//! settings (read from the kernel's view of the container process), one
//! holding the Lease, a pair Ready and InSync from git, promotions, the
//! leader pod deleted without a second active site, `helm upgrade` during a
//! promotion, `kubectl logs`. Traffic as clients see it: a client on the
//! node asks the pair's Service ClusterIP (kube-proxy routes it to the
//! EndpointSlice the operator writes) through a planned promotion, and is
//! served by the new active, never by a passive site.
//!
//! The outer test brings the node up and runs the inner one inside the run's
//! network and mount namespaces, where the node's API server and the sites
//! and git server its pods call live (on the node's bridge address).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitehapair::sites::Mode;

use crate::support::clients::Clients;
use crate::support::drivers::{mode_at, mode_of};
use crate::support::git::GitHttp;
use crate::support::helm::helm;
use crate::support::node::{NODE_IP, Node, add_bridge_address};
use crate::support::secrets::create_secret;
use crate::support::syncbed::{SyncBed, service, site_services};
use crate::support::{condition, kubectl_in, ok, repo_root, stderr, stdout, testbed, wait_for};

/// The inner test, run only by the outer one.
const INNER: &str = "node::inside_the_node_namespaces";
/// Where east and west serve their clients (addresses added to the bridge
/// here, outside the pods' range 10.88.1.x): the pair's trafficAddresses.
const CLIENT_ADDRS: [&str; 2] = ["10.88.0.21", "10.88.0.22"];
const CLIENT_PORT: u16 = 18080;
/// The pair's Service port (spec.traffic.ports, targetPort CLIENT_PORT).
const SERVICE_PORT: u16 = 80;
const IMAGE: &str = "ghcr.io/sitehapair/sitehapair";
const WAIT: Duration = Duration::from_secs(180);

/// The operator image from the binary this test run built (stripped: the
/// debug symbols are not the image's business), tagged `test`.
fn image_archive(work: &Path) -> PathBuf {
    let bin = work.join("sitehapair");
    let out = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(env!("CARGO_BIN_EXE_sitehapair"))
        .output()
        .expect("run strip");
    assert!(out.status.success(), "strip: {}", stderr(&out));
    let archive = work.join("operator.tar");
    let out = Command::new(repo_root().join("tests/testbed/node/image-archive"))
        .arg("--binary")
        .arg(&bin)
        .args(["--name", &format!("{IMAGE}:test"), "-o"])
        .arg(&archive)
        .output()
        .expect("run image-archive");
    assert!(
        out.status.success(),
        "image-archive: {}{}",
        stdout(&out),
        stderr(&out)
    );
    archive
}

/// The image written here and the Dockerfile put the same things in the same
/// places (binary path, user, CA bundle, entrypoint), and the archive is a
/// valid, reproducible OCI layout: tests/testbed/node/test_image_archive.py.
#[test]
fn the_image_archive_and_the_dockerfile_agree() {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/testbed/node/test_image_archive.py"))
        .output()
        .expect("run test_image_archive.py");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success() && text.contains("OK"), "{text}");
    let out = Command::new(repo_root().join("tests/testbed/node/image-archive"))
        .arg("--check-dockerfile")
        .output()
        .expect("run image-archive --check-dockerfile");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_chart_and_install_yaml_run_as_pods_on_a_real_node() {
    let work = tempfile::tempdir().expect("tempdir");
    let archive = image_archive(work.path());
    // Short: the node's unix sockets live under it.
    let node = Node::up(
        PathBuf::from(format!("/tmp/shn-{}", std::process::id())),
        Some(&archive),
    );
    let text = node.run_inside(INNER, &["SITEHAPAIR_TEST_SKIP_CRD=1"]);
    // The client's figures through the ClusterIP, for the record.
    for line in text.lines().filter(|l| l.starts_with("client ")) {
        eprintln!("{line}");
    }
}

fn kubectl(args: &[&str]) -> String {
    let out = kubectl_in(testbed(), None, args);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn get_json(args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = kubectl_in(testbed(), None, &all);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// The operator's pods in `ns` once exactly `n` are Running and Ready (and
/// none is terminating): their names and containerd container IDs.
fn ready_pods(ns: &str, n: usize) -> Vec<(String, String)> {
    wait_for(&format!("{n} operator pods Ready in {ns}"), WAIT, || {
        let list = get_json(&["pods", "-n", ns])?;
        let items = list["items"].as_array()?;
        let ready: Vec<(String, String)> = items
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter(|p| p["status"]["phase"] == "Running")
            .filter(|p| {
                p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
            .filter_map(|p| {
                let name = p["metadata"]["name"].as_str()?.to_string();
                let id = p["status"]["containerStatuses"][0]["containerID"]
                    .as_str()?
                    .strip_prefix("containerd://")?
                    .to_string();
                Some((name, id))
            })
            .collect();
        (ready.len() == n && items.len() == n).then_some(ready)
    })
}

/// The holder of the Lease `ns/name` once it is one of `pods`.
fn leader(ns: &str, name: &str, pods: &[(String, String)]) -> String {
    wait_for(&format!("a pod of {ns} holding its Lease"), WAIT, || {
        let lease = get_json(&["lease", name, "-n", ns])?;
        let holder = lease["spec"]["holderIdentity"].as_str()?.to_string();
        pods.iter().any(|(p, _)| *p == holder).then_some(holder)
    })
}

/// The host PID of a container's process, from containerd.
fn container_pid(id: &str) -> u32 {
    let out = Command::new("ctr")
        .args(["-n", "k8s.io", "tasks", "ls"])
        .output()
        .expect("run ctr");
    let text = ok(out, "ctr tasks ls");
    text.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next()? == id).then(|| f.next()?.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no task for container {id}:\n{text}"))
}

/// The chart's security settings, as the kernel applies them to the
/// operator's process: uid and gid 65532, no capability (effective,
/// permitted, bounding), no new privileges, a seccomp filter, the root
/// filesystem read-only and the cache writable; the process is the
/// Dockerfile's binary.
fn assert_security(pod: &str, container: &str) {
    let pid = container_pid(container);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(field("Uid"), "65532 65532 65532 65532", "{pod}: {status}");
    assert_eq!(field("Gid"), "65532 65532 65532 65532", "{pod}: {status}");
    for caps in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(field(caps), "0000000000000000", "{pod} {caps}: {status}");
    }
    assert_eq!(field("NoNewPrivs"), "1", "{pod}: {status}");
    assert_eq!(
        field("Seccomp"),
        "2",
        "{pod}: seccomp filter mode: {status}"
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let options = |point: &str| {
        mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(4) == Some(&point)).then(|| f.get(5).map(|o| o.to_string()))?
            })
            .next_back()
            .unwrap_or_else(|| panic!("{pod}: no mount at {point}:\n{mounts}"))
    };
    assert!(
        options("/").split(',').any(|o| o == "ro"),
        "{pod}: the root filesystem is writable:\n{mounts}"
    );
    assert!(
        options("/var/cache/sitehapair")
            .split(',')
            .any(|o| o == "rw"),
        "{pod}: the cache is not writable:\n{mounts}"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert!(
        cmdline.starts_with(b"/usr/local/bin/sitehapair\0run\0"),
        "{pod}: {}",
        String::from_utf8_lossy(&cmdline)
    );
}

/// Polls both sites' `GET /mode` until stopped; counts the samples in which
/// both were active at once: east read before and after west, active at
/// the same epoch both times, and west active between. Two reads in turn
/// are not one moment: east read active before its demotion and west read
/// active after its activation (a planned promotion demotes and activates
/// within milliseconds) is not two active sites.
struct OneActiveChecker {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl OneActiveChecker {
    fn start(bed: &SyncBed) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (east, west) = (bed.east.url.clone(), bed.west.url.clone());
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut samples, mut both) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let e1 = mode_at("east", &east, "east-token-1");
                let w = mode_at("west", &west, "west-token-2");
                let e2 = mode_at("east", &east, "east-token-1");
                samples += 1;
                if let (Some((Mode::Active, ee)), Some((Mode::Active, we))) = (e1, w)
                    && e2 == e1
                {
                    both.push(format!("east active at {ee}, west active at {we}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (samples, both)
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop; panics if both sites were ever seen active.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, both) = self
            .handle
            .take()
            .expect("running")
            .join()
            .expect("checker thread");
        assert!(both.is_empty(), "two active sites: {both:?}");
        samples
    }
}

/// Promote `site` and wait until it is active at `epoch` with traffic on it.
fn promote(bed: &SyncBed, site: &str, epoch: i64) -> Value {
    bed.set_active_site(site);
    let st = wait_for(&format!("{site} active at epoch {epoch}"), WAIT, || {
        let st = bed.status();
        (st["activeSite"] == site && st["epoch"] == epoch && st["promotion"].is_null())
            .then_some(st)
    });
    let (active, passive, token) = match site {
        "east" => (&bed.east, &bed.west, "east-token-1"),
        _ => (&bed.west, &bed.east, "west-token-2"),
    };
    let other = if site == "east" {
        "west-token-2"
    } else {
        "east-token-1"
    };
    wait_for(&format!("{site} says active at {epoch}"), WAIT, || {
        (mode_of(active, token) == Some((Mode::Active, epoch))
            && mode_of(passive, other).is_some_and(|(m, e)| m == Mode::Passive && e == epoch))
        .then_some(())
    });
    st
}

/// The pair's Service ClusterIP and port, once the Service exists.
fn cluster_ip(bed: &SyncBed) -> SocketAddr {
    let ip = wait_for("the pair's Service ClusterIP", WAIT, || {
        let svc = get_json(&["service", &bed.name, "-n", &bed.ns.name])?;
        svc["spec"]["clusterIP"]
            .as_str()?
            .parse::<std::net::IpAddr>()
            .ok()
    });
    SocketAddr::new(ip, SERVICE_PORT)
}

/// A planned promotion east -> west (epoch 1 -> 2) while a client on the
/// node asks the pair's ClusterIP: kube-proxy's rules follow the
/// EndpointSlice the operator writes; after the promotion, the new active
/// serves every request; no 200 ever came from a passive site. Prints the
/// client's figures.
fn promote_under_clients(bed: &SyncBed, target: SocketAddr) {
    let clients = Clients::start(&target.to_string(), Duration::from_millis(20));
    clients.wait_served_by("east", 5, WAIT);
    let asked = Instant::now();
    promote(bed, "west", 2);
    let done = Instant::now();
    // Counted from `done`: the client may have seen twenty answers from
    // west before the test saw the promotion complete.
    clients.wait_served_after("west", 20, done, WAIT);
    let record = clients.finish();
    let problems = record.planned_promotion_problems(("east", 1), ("west", 2), asked, done);
    let during = record.since(asked);
    let f = during.figures(asked);
    let served_again = f
        .served_again_ms
        .map_or("never".into(), |ms| format!("{ms} ms"));
    eprintln!(
        "client through the ClusterIP {target} (kube-proxy), planned promotion east -> west: \
         {} requests from the spec change on, {} failed, longest failure run {} ms, \
         served again {served_again} after the spec change; the promotion \
         completed {} ms after it",
        f.sent,
        f.failed,
        f.longest_run_ms,
        (done - asked).as_millis()
    );
    eprintln!(
        "client answers from the spec change on: {:?}",
        during.outcomes()
    );
    assert!(
        problems.is_empty(),
        "the client through {target}: {problems:#?}\nanswers: {:?}",
        during.outcomes()
    );
}

/// Writes to `site` (PUT/POST/DELETE) by replica `pod`, from its request log.
fn writes_by(site: &crate::support::site::ReferenceSite, pod: &str) -> usize {
    site.requests()
        .iter()
        .filter(|r| r["method"] != "GET")
        .filter(|r| {
            r["agent"]
                .as_str()
                .is_some_and(|a| a.contains(&format!("({pod})")))
        })
        .count()
}

#[test]
#[ignore = "run inside the node's namespaces by the_chart_and_install_yaml_run_as_pods_on_a_real_node"]
fn inside_the_node_namespaces() {
    let kc = testbed().kubeconfig.clone();
    // helm install with the chart's defaults apart from the image tag.
    let release_ns = "shp-helm";
    ok(
        helm(
            &[
                "install",
                "sitehapair",
                "charts/sitehapair",
                "-n",
                release_ns,
                "--create-namespace",
                "--set",
                "image.tag=test",
                "--wait",
                "--timeout",
                "180s",
            ],
            &kc,
        ),
        "helm install",
    );
    let pods = ready_pods(release_ns, 2);
    let first = leader(release_ns, "sitehapair", &pods);
    for (pod, id) in &pods {
        assert_security(pod, id);
    }
    wait_for("the chart's CRD served", WAIT, || {
        kubectl_in(testbed(), None, &["get", "shp", "-A"])
            .status
            .success()
            .then_some(())
    });

    // A pair whose sites and repository the pods reach on the node's
    // address; the sites serve clients on addresses of their own (the
    // bridge exists only in the run's namespace, so outside it this fails).
    for addr in CLIENT_ADDRS {
        add_bridge_address(addr);
    }
    let bed = SyncBed::new_serving_clients(
        "node",
        &[("roads", 1), ("rivers", 1)],
        &format!("{NODE_IP}:0"),
        CLIENT_ADDRS
            .map(|a| format!("{a}:{CLIENT_PORT}"))
            .each_ref()
            .map(String::as_str),
    );
    let git = GitHttp::start_on(
        bed.dir.path(),
        "deploy",
        "node-pass-31",
        &format!("{NODE_IP}:0"),
        bed.dir.path().join("git-http.log"),
    );
    create_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "node-pass-31")],
    );
    let mut pair = bed.pair(&git.url("services"));
    for (site, addr) in [(&bed.east, CLIENT_ADDRS[0]), (&bed.west, CLIENT_ADDRS[1])] {
        let want = format!("{addr}:{CLIENT_PORT}");
        assert_eq!(site.client.as_deref(), Some(want.as_str()), "{}", site.name);
    }
    pair["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    for (i, addr) in CLIENT_ADDRS.iter().enumerate() {
        pair["spec"]["sites"][i]["trafficAddresses"] = json!([addr]);
    }
    pair["spec"]["traffic"] =
        json!({"ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": CLIENT_PORT}]});
    bed.apply(&pair);
    let checker = OneActiveChecker::start(&bed);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev1, WAIT);
    wait_for("the pair Ready", WAIT, || {
        (condition(&bed.status(), "Ready")["status"] == "True").then_some(())
    });
    assert_eq!(
        site_services(&bed.west, "west-token-2")["roads"]["version"],
        1
    );
    assert!(
        writes_by(&bed.east, &first) > 0,
        "the leader pod did not sync east"
    );

    // A change through git reaches both sites; a planned promotion completes.
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    bed.wait_in_sync(&rev2, WAIT);
    assert_eq!(
        site_services(&bed.east, "east-token-1")["roads"]["version"],
        2
    );
    promote_under_clients(&bed, cluster_ip(&bed));

    // The leader pod deleted: the other takes the Lease and carries on.
    kubectl(&["delete", "pod", &first, "-n", release_ns, "--wait=false"]);
    let pods = wait_for("a new leader", WAIT, || {
        let pods = ready_pods(release_ns, 2);
        let holder = leader(release_ns, "sitehapair", &pods);
        (holder != first).then_some((pods, holder))
    });
    let (pods, second) = pods;
    promote(&bed, "east", 3);
    assert!(
        writes_by(&bed.east, &second) > 0,
        "the new leader did not promote east"
    );

    // helm upgrade rolls the pods while a promotion runs; it is not lost.
    bed.set_active_site("west");
    ok(
        helm(
            &[
                "upgrade",
                "sitehapair",
                "charts/sitehapair",
                "-n",
                release_ns,
                "--set",
                "image.tag=test",
                "--set-string",
                "podAnnotations.rolled=yes",
                "--wait",
                "--timeout",
                "180s",
            ],
            &kc,
        ),
        "helm upgrade",
    );
    let st = promote(&bed, "west", 4);
    let history = st["history"].as_array().expect("history");
    assert_eq!(history.last().expect("a record")["epoch"], 4, "{history:?}");
    let rolled = ready_pods(release_ns, 2);
    assert!(
        rolled
            .iter()
            .all(|(p, _)| pods.iter().all(|(old, _)| old != p)),
        "the upgrade did not roll the pods: {rolled:?} after {pods:?}"
    );
    let third = leader(release_ns, "sitehapair", &rolled);
    let logs = kubectl(&["logs", "-n", release_ns, &third]);
    assert!(
        logs.contains("acquired the leader Lease") && logs.lines().all(|l| l.starts_with('{')),
        "kubectl logs of the leader:\n{logs}"
    );

    // manifests/install.yaml after the chart is gone: the same pods, the same pair.
    ok(
        helm(
            &["uninstall", "sitehapair", "-n", release_ns, "--wait"],
            &kc,
        ),
        "helm uninstall",
    );
    let version = format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION"));
    ok(
        Command::new("ctr")
            .args([
                "-n",
                "k8s.io",
                "images",
                "tag",
                &format!("{IMAGE}:test"),
                &version,
            ])
            .output()
            .expect("run ctr"),
        "ctr images tag",
    );
    let manifests = repo_root().join("manifests/install.yaml");
    kubectl(&[
        "apply",
        "--server-side",
        "-f",
        manifests.to_str().expect("utf-8"),
    ]);
    let pods = ready_pods("sitehapair-system", 2);
    let fourth = leader("sitehapair-system", "sitehapair", &pods);
    for (pod, id) in &pods {
        assert_security(pod, id);
    }
    promote(&bed, "east", 5);
    assert!(
        writes_by(&bed.east, &fourth) > 0,
        "install.yaml's leader did not promote east"
    );
    let samples = checker.finish();
    assert!(
        samples > 100,
        "the one-active checker barely ran: {samples} samples"
    );
    kubectl(&[
        "delete",
        "-f",
        manifests.to_str().expect("utf-8"),
        "--wait=false",
    ]);
}
