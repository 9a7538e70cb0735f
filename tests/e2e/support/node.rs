//! `Node`: a test-bed node of a run's own (`testbed up DIR --node`, see
//! tests/testbed/node/README.md): a control plane with a kubelet, a
//! container runtime and kube-proxy in network and mount namespaces of the
//! run's own, taken down (namespaces, processes, state) when dropped; and
//! `run_inside`, which runs one ignored test of this binary inside those
//! namespaces, where the node's API server, its bridge and the Service
//! ClusterIPs (kube-proxy's rules) are reachable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{repo_root, script, stderr, stdout};

/// The node's bridge address (tests/testbed/node/netns BRIDGE_ADDR): pods
/// reach what listens here.
pub const NODE_IP: &str = "10.88.0.1";
/// The node's bridge (tests/testbed/node/netns BRIDGE), which exists only
/// in the run's namespace.
pub const BRIDGE: &str = "sh-br0";

fn node_script() -> PathBuf {
    repo_root().join("tests/testbed/node/node")
}

pub struct Node {
    dir: PathBuf,
}

impl Node {
    /// Bring a node up in `dir` (short: the node's unix sockets live
    /// under it), with the image archive `image` imported, if any.
    pub fn up(dir: PathBuf, image: Option<&Path>) -> Self {
        let node = Self { dir };
        let mut cmd = Command::new(script());
        cmd.arg("up").arg(&node.dir).arg("--node");
        if let Some(image) = image {
            cmd.arg("--image").arg(image);
        }
        let out = cmd.output().expect("run node up");
        assert!(
            out.status.success(),
            "node up failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        node
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new(node_script())
            .arg("exec")
            .arg(&self.dir)
            .arg("--")
            .args(args)
            .output()
            .expect("run node exec")
    }

    /// Run the ignored test `inner` of this test binary inside the node's
    /// namespaces against the node's API server, with `env` besides; its
    /// stdout and stderr. Panics unless it passed.
    pub fn run_inside(&self, inner: &str, env: &[&str]) -> String {
        let exe = std::env::current_exe().expect("test binary");
        assert!(
            !exe.to_string_lossy().ends_with(" (deleted)"),
            "this test binary was relinked under the running tests: a test ran cargo \
             with the package's variables (support::without_package_env)"
        );
        // Inside, PATH leads with the node's binaries; cargo and rustc (the
        // inner test builds the reference site) come after them.
        let outer_path = std::env::var("PATH").unwrap_or_default();
        let kubeconfig = format!("SITEHAPAIR_TEST_KUBECONFIG={}", self.kubeconfig().display());
        let mut args = vec![
            "sh",
            "-c",
            "PATH=\"$PATH:$1\"; shift; exec \"$@\"",
            "sh",
            &outer_path,
            "env",
            &kubeconfig,
        ];
        args.extend_from_slice(env);
        args.extend_from_slice(&[
            exe.to_str().expect("utf-8 path"),
            inner,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        let out = self.exec(&args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{inner} inside the node's namespaces failed:\n{text}"
        );
        text
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("down").arg(&self.dir).status();
    }
}

/// Add `addr` (a /32) to the node's bridge, for a process of the run's
/// namespace to listen on (only there: outside, this fails).
pub fn add_bridge_address(addr: &str) {
    let out = Command::new("ip")
        .args(["addr", "add", &format!("{addr}/32"), "dev", BRIDGE])
        .output()
        .expect("run ip");
    assert!(
        out.status.success() || stderr(&out).contains("File exists"),
        "ip addr add {addr}: {}",
        stderr(&out)
    );
}
