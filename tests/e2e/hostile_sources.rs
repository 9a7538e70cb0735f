//! Hostile or broken git servers and repositories: a server that accepts
//! the connection and never answers is bounded by --git-timeout (shown in
//! SourceReady, the repository's other checks not stuck behind it), and a
//! folder path through a symlink out of the repository is refused by
//! `validate` with the path named.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::promotion::WAIT;
use crate::support::operator::Operator;
use crate::support::syncbed::live_sites;
use crate::support::{Namespace, condition, stderr, wait_for};

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
        let log = std::fs::read_to_string(&s.request_log).unwrap_or_default();
        let service_writes = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| {
                r["method"] != "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/services"))
            })
            .count();
        assert_eq!(service_writes, 0, "{}: {log}", s.name);
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
