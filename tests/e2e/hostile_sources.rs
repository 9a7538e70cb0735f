//! Hostile or broken git servers and repositories: a server that accepts
//! the connection and never answers is bounded by --git-timeout (shown in
//! SourceReady, the repository's other checks not stuck behind it); a
//! folder path through a committed symlink out of the repository is refused
//! by `validate` and by the operator, with the path named and no site
//! written; credentials in a repository URL are never shown.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::support::git::GitHttp;
use crate::support::operator::Operator;
use crate::support::status::WAIT;
use crate::support::syncbed::{SyncBed, live_sites};
use crate::support::{Namespace, condition, stderr, stdout, wait_for};

/// Accepts connections and never answers, until dropped.
struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl SilentServer {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok((mut c, _)) = l.accept() {
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut buf = [0u8; 1024];
                    let _ = c.set_nonblocking(true);
                    let _ = c.read(&mut buf);
                    held.push(c);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            port,
            stop,
            accepted,
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_git_server_that_never_answers_is_bounded_and_shown() {
    let server = SilentServer::start();
    let ns = Namespace::new("git-hang");
    let dir = tempfile::tempdir().expect("tempdir");
    let (east, west, mut pair) = live_sites(&ns, dir.path(), "gis");
    pair["spec"]["source"] = json!({"git": {
        "url": format!("http://127.0.0.1:{}/gis/services.git", server.port),
        "interval": "5s",
    }});
    let _op = Operator::start(&ns.name, "op", &["--git-timeout", "3"]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let st = wait_for("SourceReady=False after the git timeout", WAIT, || {
        let st = ns.get_json("shp/gis")?["status"].clone();
        let c = condition(&st, "SourceReady");
        (c["status"] == "False").then_some(st)
    });
    let msg = condition(&st, "SourceReady")["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(msg.contains("did not finish within 3 s"), "{msg}");
    // Not stuck: the check after the timeout connects again (the
    // repository's lock was released at the deadline).
    let first = server.accepted.load(Ordering::Relaxed);
    wait_for("another check of the repository", WAIT, || {
        (server.accepted.load(Ordering::Relaxed) > first).then_some(())
    });
    // No site was written.
    for s in [&east, &west] {
        assert_eq!(s.service_writes(), 0, "{} was written", s.name);
    }
}

#[test]
fn validate_refuses_a_folder_path_through_a_symlink_out_of_the_repository() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(outside.path().join("inner")).expect("mkdir");
    std::fs::write(outside.path().join("inner/stolen.yaml"), "name: stolen\n").expect("write");
    let repo = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(outside.path(), repo.path().join("top")).expect("symlink");
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["validate"])
        .arg(repo.path())
        .args(["--path", "top/inner"])
        .output()
        .expect("sitehapair validate");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("top/inner") && text.contains("outside the repository"),
        "{text}"
    );
}

#[test]
fn a_committed_symlink_out_of_the_repository_rejects_the_revision_and_writes_nothing() {
    let mut bed = SyncBed::new("git-symlink", &[("roads", 1)]);
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(outside.path().join("inner")).expect("mkdir");
    std::fs::write(
        outside.path().join("inner/stolen.yaml"),
        "name: stolen\ntype: MapServer\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(outside.path(), bed.repo.work.join("top")).expect("symlink");
    let rev = bed
        .repo
        .commit("a folder that points out of the repository");
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["source"]["git"]["path"] = json!("top/inner");
    bed.apply(&pair);
    let msg = bed.wait_condition("SourceReady", "False", "InvalidRevision", WAIT);
    assert!(
        msg.contains(&rev[..12])
            && msg.contains("top/inner")
            && msg.contains("outside the repository"),
        "{msg}"
    );
    for site in [&bed.east, &bed.west] {
        assert_eq!(site.service_writes(), 0, "site {} was written", site.name);
    }
}

#[test]
fn credentials_in_the_repository_url_never_reach_status_or_events() {
    let mut bed = SyncBed::new("git-url-creds", &[("roads", 1)]);
    let git = GitHttp::start(bed.dir.path(), "deploy", "url-pass-39");
    bed.start_operator(&[]);
    let url = git
        .url("services")
        .replace("http://", "http://deploy:url-pass-39@");
    let pair = bed.pair(&url);
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, WAIT);
    let ready = bed.condition("SourceReady");
    let msg = ready["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&git.url("services")), "{msg}");
    let events = stdout(&bed.ns.kubectl_raw(&["get", "events", "-o", "json"]));
    let logs = bed.op.as_ref().map(|o| o.logs()).unwrap_or_default();
    for (what, text) in [
        ("status", bed.status().to_string()),
        ("events", events),
        ("logs", logs),
    ] {
        assert!(
            !text.contains("url-pass-39"),
            "the password is in the {what}"
        );
    }
}
