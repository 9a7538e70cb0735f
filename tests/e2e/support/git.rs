//! Git for the tests, all real: a bare repository with a working clone driven
//! by the git CLI, and a smart-HTTP server (`git http-backend` behind basic
//! auth, tests/e2e/fixtures/git_http.py) run as a separate process.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::repo_root;

/// A bare repository `<root>/<name>.git` and a clone of it to commit in.
pub struct GitRepo {
    pub bare: PathBuf,
    pub work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl GitRepo {
    pub fn new(root: &Path, name: &str) -> Self {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        git(
            root,
            &["init", "--quiet", "--bare", "-b", "main", &s(&bare)],
        );
        git(root, &["init", "--quiet", "-b", "main", &s(&work)]);
        git(&work, &["remote", "add", "origin", &s(&bare)]);
        Self { bare, work }
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.work, args)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.work.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write file");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.work.join(rel)).expect("remove file");
    }

    /// Commit everything and push the current branch; returns the commit.
    pub fn commit(&self, message: &str) -> String {
        self.commit_with(message, &[])
    }

    /// Like `commit`, with `git -c` options (such as a signing key) and
    /// signed (`-S`) when there are any.
    pub fn commit_with(&self, message: &str, config: &[String]) -> String {
        self.git(&["add", "-A"]);
        let mut args: Vec<&str> = Vec::new();
        for c in config {
            args.extend(["-c", c.as_str()]);
        }
        args.extend(["commit", "--quiet", "--allow-empty", "-m", message]);
        if !config.is_empty() {
            args.push("-S");
        }
        self.git(&args);
        let branch = self.git(&["rev-parse", "--abbrev-ref", "HEAD"]);
        self.git(&[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]);
        self.git(&["rev-parse", "HEAD"])
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `git http-backend` over HTTP on a loopback port, with basic auth.
pub struct GitHttp {
    child: Option<Child>,
    pub addr: String,
    pub log: PathBuf,
    root: PathBuf,
    user: String,
    password: String,
}

impl GitHttp {
    pub fn start(root: &Path, user: &str, password: &str) -> Self {
        Self::start_on(
            root,
            user,
            password,
            "127.0.0.1:0",
            root.join("git-http.log"),
        )
    }

    /// Like `start`, listening on `listen` (an address pods on the test
    /// bed's node can reach, say) and logging to `log`.
    pub fn start_on(root: &Path, user: &str, password: &str, listen: &str, log: PathBuf) -> Self {
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/e2e/fixtures/git_http.py"))
            .args(["--root", &s(root), "--listen", listen, "--user", user])
            .args(["--password", password, "--log", &s(&log)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start git_http.py");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read listening line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from git_http.py: {first:?}"))
            .to_string();
        Self {
            child: Some(child),
            addr,
            log,
            root: root.to_path_buf(),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// URL of the bare repository `<name>.git` under the root.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}.git", self.addr)
    }

    /// Requests logged so far: (method, path, query, status).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Remote checks (ref advertisements) answered 200.
    pub fn ref_checks(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/info/refs"))
                    && r["status"] == 200
            })
            .count()
    }

    /// Fetches that downloaded a pack: ref advertisements followed by
    /// upload-pack POSTs (one fetch may POST more than once to negotiate).
    pub fn fetches(&self) -> usize {
        let reqs = self.requests();
        let is_post = |r: &serde_json::Value| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/git-upload-pack"))
        };
        reqs.windows(2)
            .filter(|w| w[0]["method"] == "GET" && is_post(&w[1]) && w[1]["status"] == 200)
            .count()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same address (after `stop`).
    pub fn restart(&mut self) {
        self.stop();
        let again = Self::start_on(
            &self.root.clone(),
            &self.user.clone(),
            &self.password.clone(),
            &self.addr.clone(),
            self.log.clone(),
        );
        *self = again;
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `git daemon` (the git:// protocol) serving the bare repositories under a root.
pub struct GitDaemon {
    child: Option<Child>,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(root: &Path) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        // `git daemon` runs git-daemon as a child of its own: start the
        // daemon itself, in a process group of its own, with no pipe of ours,
        // so that killing the group leaves nothing behind (a leftover would
        // hold the test run's output open).
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git --exec-path");
        let daemon =
            PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-daemon");
        let child = Command::new(daemon)
            .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git-daemon");
        super::wait_for(
            "git daemon to listen",
            std::time::Duration::from_secs(10),
            || {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ())
            },
        );
        Self {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The whole group: the daemon and any connection it forked.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
