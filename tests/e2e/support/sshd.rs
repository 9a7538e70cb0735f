//! An OpenSSH server on a loopback port for one test, serving git over ssh
//! with keys generated for the run; killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    pub user: String,
    /// The client's private key (PEM).
    pub client_key: String,
    /// known_hosts line for this server's real host key.
    pub known_hosts: String,
    /// known_hosts line with some other key for this host.
    pub wrong_known_hosts: String,
}

fn keygen(path: &Path, args: &[&str]) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-f"])
        .arg(path)
        .args(args)
        .status()
        .expect("ssh-keygen");
    assert!(st.success(), "ssh-keygen failed");
}

fn pub_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).expect("read .pub");
    let mut f = text.split_whitespace();
    format!("{} {}", f.next().expect("type"), f.next().expect("key"))
}

impl Sshd {
    pub fn start(dir: &Path) -> Self {
        let d = dir.join("sshd");
        std::fs::create_dir_all(&d).expect("mkdir sshd");
        let host = d.join("host_ed25519");
        let other = d.join("other_ed25519");
        let client = d.join("client_ecdsa");
        keygen(&host, &["-t", "ed25519"]);
        keygen(&other, &["-t", "ed25519"]);
        keygen(&client, &["-t", "ecdsa", "-m", "PEM"]);
        let authorized = d.join("authorized_keys");
        std::fs::copy(client.with_extension("pub"), &authorized).expect("authorized_keys");
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n",
                host.display(),
                authorized.display(),
                d.join("sshd.pid").display()
            ),
        )
        .expect("write sshd_config");
        // The privilege separation folder sshd insists on when run as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new(sshd_bin())
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sshd");
        wait_for("sshd to listen", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        let user =
            String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
                .trim()
                .to_string();
        Self {
            child: Some(child),
            port,
            user,
            client_key: std::fs::read_to_string(&client).expect("client key"),
            known_hosts: format!("[127.0.0.1]:{port} {}\n", pub_key(&host)),
            wrong_known_hosts: format!("[127.0.0.1]:{port} {}\n", pub_key(&other)),
        }
    }

    /// ssh URL of a bare repository by absolute path.
    pub fn url(&self, bare: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            bare.display()
        )
    }
}

fn sshd_bin() -> PathBuf {
    PathBuf::from("/usr/sbin/sshd")
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
