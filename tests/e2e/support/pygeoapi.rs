//! A real pygeoapi site for one test: pygeoapi (the version
//! tests/testbed/testbed installs, in its cached virtual environment)
//! under gunicorn, one worker, reloading when its configuration file
//! changes (`--reload --reload-extra-file`) unless a test asks for a
//! server that does not reload; the example data
//! (examples/pygeoapi/data) copied beside its configuration, the admin
//! API on, no resources to begin with. Started in a process group of its
//! own on a fixed loopback port (kept across restarts), killed with the
//! group when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{repo_root, script, wait_for};

/// The bin directory of the pygeoapi virtual environment.
pub fn venv_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(script())
            .arg("pygeoapi")
            .output()
            .expect("run testbed pygeoapi");
        assert!(
            out.status.success(),
            "pygeoapi is not installed (scripts/setup.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

pub struct PygeoapiServer {
    pub name: String,
    /// The site's folder: config, OpenAPI document, data, log.
    pub dir: PathBuf,
    pub port: u16,
    reload: bool,
    child: Option<Child>,
}

fn config(name: &str, port: u16) -> String {
    let example =
        std::fs::read_to_string(repo_root().join("examples/pygeoapi/pygeoapi-config.yml"))
            .expect("examples/pygeoapi/pygeoapi-config.yml");
    example
        .replace("port: 5000", &format!("port: {port}"))
        .replace(
            "url: https://geo-east.internal",
            &format!("url: http://127.0.0.1:{port}"),
        )
        .replace("Hydrography (east)", &format!("Hydrography ({name})"))
}

impl PygeoapiServer {
    /// A site named `name` under `root`, reloading on changes when `reload`.
    pub fn start(root: &Path, name: &str, reload: bool) -> Self {
        let dir = root.join(format!("pygeoapi-{name}"));
        std::fs::create_dir_all(dir.join("data")).expect("site dir");
        let data = repo_root().join("examples/pygeoapi/data");
        for entry in std::fs::read_dir(&data).expect("examples/pygeoapi/data") {
            let p = entry.expect("entry").path();
            std::fs::copy(&p, dir.join("data").join(p.file_name().expect("name")))
                .expect("copy data");
        }
        let port = super::operator::free_port();
        std::fs::write(dir.join("config.yml"), config(name, port)).expect("write config");
        let mut s = Self {
            name: name.to_string(),
            dir,
            port,
            reload,
            child: None,
        };
        s.spawn();
        s
    }

    fn env(&self, cmd: &mut Command) {
        cmd.current_dir(&self.dir)
            .env("PYGEOAPI_CONFIG", self.dir.join("config.yml"))
            .env("PYGEOAPI_OPENAPI", self.dir.join("openapi.yml"));
    }

    fn spawn(&mut self) {
        let bin = venv_bin();
        let mut generate = Command::new(bin.join("pygeoapi"));
        generate.args([
            "openapi",
            "generate",
            "config.yml",
            "--output-file",
            "openapi.yml",
        ]);
        self.env(&mut generate);
        let out = generate.output().expect("pygeoapi openapi generate");
        assert!(
            out.status.success(),
            "openapi generate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("gunicorn.log"))
            .expect("log");
        let mut cmd = Command::new(bin.join("gunicorn"));
        cmd.args(["--workers", "1", "--no-control-socket", "--bind"])
            .arg(format!("127.0.0.1:{}", self.port));
        if self.reload {
            cmd.args(["--reload", "--reload-extra-file"])
                .arg(self.dir.join("config.yml"));
        }
        cmd.arg("pygeoapi.flask_app:APP")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the
        // parent: the server dies with the test thread that started it,
        // even when no Drop runs.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.env(&mut cmd);
        self.child = Some(cmd.spawn().expect("start gunicorn"));
        let url = format!("http://127.0.0.1:{}/?f=json", self.port);
        wait_for(
            &format!("pygeoapi {} to answer", self.name),
            Duration::from_secs(30),
            || {
                let ok = Command::new("curl")
                    .args(["-sf", "-o", "/dev/null", "--max-time", "2", &url])
                    .status()
                    .is_ok_and(|s| s.success());
                ok.then_some(())
            },
        );
    }

    /// Kill the server (its whole process group) at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling a process group this test started.
            unsafe {
                libc::killpg(c.id() as i32, libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// Kill the server and start it again on the same port and configuration.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for PygeoapiServer {
    fn drop(&mut self) {
        self.kill();
    }
}
