"""What the scale benchmark sets up beside the control plane, each a real
process or object: a git repository of services served by `git
http-backend` (tests/e2e/fixtures/git_http.py), one reference site process
hosting every site as a virtual site, the token Secrets, the operator, and
the pairs. Every process is started in a session of its own with
PR_SET_PDEATHSIG, recorded, and stopped by `Processes.stop_all`."""

import concurrent.futures
import ctypes
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from kubeapi import GROUP

TOKEN = "bench-token"
HOOK_SECRET = "bench-hook-secret"
NAMESPACE = "bench"


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: SIGKILL when the harness dies, even by SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Processes:
    def __init__(self):
        self.procs = []

    def start(self, name, args, log, env=None, stdout=subprocess.DEVNULL):
        f = open(log, "ab")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=f,
                             env=env, start_new_session=True, preexec_fn=_die_with_parent)
        f.close()
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for _, p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        for _, p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        self.procs = []


def wait_for(what, timeout, check, every=0.2):
    """Poll `check` until it returns something true; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def listening_line(p, what):
    line = p.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"{what} did not start: {line!r}")
    return line[len("listening on "):]


# --- git ---------------------------------------------------------------------------

def service_file(i, version):
    return (f"name: svc-{i:03}\ntype: MapServer\nversion: {version}\n"
            f"connection:\n  user: gis\n  password: pw-svc-{i:03}-secret\n")


class Repo:
    """A bare repository DIR/git/services.git and a clone to commit in."""

    def __init__(self, root, services):
        self.bare = os.path.join(root, "git", "services.git")
        self.work = os.path.join(root, "work")
        os.makedirs(os.path.dirname(self.bare), exist_ok=True)
        self.git(root, "init", "--quiet", "--bare", "-b", "main", self.bare)
        self.git(root, "init", "--quiet", "-b", "main", self.work)
        self.git(self.work, "remote", "add", "origin", self.bare)
        os.makedirs(os.path.join(self.work, "services"))
        self.versions = {}
        for i in range(services):
            self.write(i, 1)
        self.commit("initial services")

    @staticmethod
    def git(cwd, *args):
        env = dict(os.environ, GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
                   GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
        out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True)
        return out.stdout.decode().strip()

    def write(self, i, version):
        self.versions[i] = version
        with open(os.path.join(self.work, "services", f"svc-{i:03}.yaml"), "w") as f:
            f.write(service_file(i, version))

    def commit(self, message):
        self.git(self.work, "add", "-A")
        self.git(self.work, "commit", "--quiet", "-m", message)
        self.git(self.work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
        return self.git(self.work, "rev-parse", "HEAD")

    def bump(self, i):
        """Commit a new version of service i; returns (service name, commit)."""
        self.write(i, self.versions[i] + 1)
        return f"svc-{i:03}", self.commit(f"svc-{i:03} v{self.versions[i]}")


def start_git_server(procs, repo_root, root, log):
    p = procs.start("git-http", ["python3", os.path.join(repo_root, "tests/e2e/fixtures/git_http.py"),
                                 "--root", os.path.join(root, "git"), "--listen", "127.0.0.1:0",
                                 "--log", log], os.path.join(root, "git-http.stderr"),
                    stdout=subprocess.PIPE)
    addr = listening_line(p, "git_http.py")
    return p, f"http://{addr}/services.git"


# --- the reference site --------------------------------------------------------------

def start_sites(procs, bin_dir, root, count, log, no_etag=False, distinct=False):
    """One process, `count` virtual sites vs-0 .. vs-<count-1>, state in memory;
    with `no_etag`, sites that send no ETag (every listing whole); with
    `distinct`, it listens on every loopback address (each site is then
    reached at an address of its own, `site_url`: on Linux every 127/8
    address reaches the loopback interface; listening on every address also
    opens the token-guarded site to the machine's network for the run)."""
    listen = "0.0.0.0:0" if distinct else "127.0.0.1:0"
    p = procs.start("reference-site", [os.path.join(bin_dir, "examples", "reference-site"),
                                       "--listen", listen, "--name", "vs", "--token", TOKEN,
                                       "--virtual-sites", str(count), "--request-log", log]
                    + (["--no-etag"] if no_etag else []),
                    os.path.join(root, "reference-site.stderr"), stdout=subprocess.PIPE)
    return p, listening_line(p, "reference-site")


def site_name(pair, side):
    return f"vs-{2 * pair + side}"


def site_url(site_addr, pair, side, distinct=False):
    """The admin URL of a virtual site: under the reference site's address,
    or, `distinct`, at a loopback address of its own (127.1.x.y, on the
    same port), as real sites are separate hosts: the operator then keeps
    a connection per site, not a few shared by all."""
    k = 2 * pair + side
    if distinct:
        if k >= 250 * 256:
            raise SystemExit(f"BENCH_SITE_ADDRESSES=distinct gives at most {250 * 256} sites an address")
        port = site_addr.rsplit(":", 1)[1]
        site_addr = f"127.1.{k // 250}.{k % 250 + 1}:{port}"
    return f"http://{site_addr}/v/{site_name(pair, side)}"


# --- objects -----------------------------------------------------------------------

def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": data}


def pair_name(i):
    return f"p{i:05}"


def pair(i, site_addr, git_url, distinct=False):
    sites = []
    for side, (name, ip) in enumerate([("east", "192.0.2.10"), ("west", "192.0.2.20")]):
        vs = site_name(i, side)
        sites.append({"name": name, "adminUrl": site_url(site_addr, i, side, distinct),
                      "credentialsSecretRef": {"name": f"{vs}-admin"}, "trafficAddresses": [ip]})
    return {"apiVersion": "sitehapair.io/v1alpha1", "kind": "SiteHAPair",
            "metadata": {"name": pair_name(i), "namespace": NAMESPACE},
            "spec": {"activeSite": "east", "sites": sites,
                     "source": {"git": {"url": git_url, "ref": {"branch": "main"},
                                        "path": "services", "interval": "1m"}},
                     "healthCheck": {"interval": "10s", "timeout": "2s"}}}


def create_namespace(api):
    api.apply(f"/api/v1/namespaces/{NAMESPACE}", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": NAMESPACE}})


def create_secrets(api, pairs):
    base = f"/api/v1/namespaces/{NAMESPACE}/secrets"
    for i in range(pairs):
        for side in (0, 1):
            vs = site_name(i, side)
            api.apply(f"{base}/{vs}-admin", secret(f"{vs}-admin", {"token": f"{TOKEN}.{vs}"}))
    api.apply(f"{base}/git-hook", secret("git-hook", {"token": HOOK_SECRET}))


def apply_pairs(api, pairs, site_addr, git_url, workers=None, distinct=False):
    """Apply every pair, BENCH_APPLY_WORKERS (8) at a time, each worker on
    its own keep-alive connection, as a GitOps tool applies a folder (one
    at a time, kubectl's way, is BENCH_APPLY_WORKERS=1)."""
    base = f"{GROUP}/namespaces/{NAMESPACE}/sitehapairs"
    workers = workers or int(os.environ.get("BENCH_APPLY_WORKERS", "8"))

    def one(i):
        api.apply(f"{base}/{pair_name(i)}", pair(i, site_addr, git_url, distinct))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        # list(): the first failure is raised here, not lost in a future.
        list(ex.map(one, range(pairs)))


# --- the operator --------------------------------------------------------------------

def worker_threads():
    """The operator's runtime workers: as many as the chart's CPU limit of
    one core gives it (tokio sizes its pool by the CPUs the cgroup quota
    allows), unless BENCH_WORKER_THREADS says otherwise; on this machine,
    with no quota, it would take one per core."""
    return os.environ.get("BENCH_WORKER_THREADS", "1")


class Operator:
    def __init__(self, procs, bin_dir, root, kubeconfig, port):
        self.port = port
        self.log = os.path.join(root, "operator.log")
        env = dict(os.environ, KUBECONFIG=kubeconfig, RUST_LOG=os.environ.get("BENCH_RUST_LOG", "info"),
                   TOKIO_WORKER_THREADS=worker_threads())
        # BENCH_OPERATOR_WRAPPER: a command to run the operator under (for
        # example `heaptrack -o FILE` to see where its memory goes); the
        # figures of such a run describe the wrapper, not the operator.
        wrapper = os.environ.get("BENCH_OPERATOR_WRAPPER", "").split()
        self.proc = procs.start("operator", [*wrapper, os.path.join(bin_dir, "sitehapair"), "run",
                                             "--identity", "bench", "--log-format", "json",
                                             "--namespace", NAMESPACE,
                                             "--listen", f"127.0.0.1:{port}",
                                             "--cache-dir", os.path.join(root, "operator-cache"),
                                             "--webhook-secret", "git-hook",
                                             "--webhook-secret-namespace", NAMESPACE,
                                             *os.environ.get("BENCH_OPERATOR_ARGS", "").split()],
                                self.log, env=env)
        self.pid = self.proc.pid

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    def metric(self, name):
        text = self.get("/metrics") or ""
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def hook(self, git_url):
        """POST a signed push of main to /hooks/git; returns the HTTP status."""
        body = json.dumps({"ref": "refs/heads/main",
                           "repository": {"clone_url": git_url, "full_name": "bench/services"}}).encode()
        sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/hooks/git", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-GitHub-Event": "push", "X-Hub-Signature-256": sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
