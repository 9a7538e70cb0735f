#!/usr/bin/env python3
"""The scale benchmark of issue 12, run by scripts/bench-scale.sh N: N pairs
of two sites with BENCH_SERVICES (100) services each, following one git
repository, every site a virtual site of one reference-site process, against
a test bed started with its audit log on. Phases, each a measured window:

  baseline   BENCH_BASELINE_SECONDS (30) with no operator (what the bed and
             this harness cost the API server on their own)
  converge   apply the N pairs, wait until all are Ready and InSync
             (deadline BENCH_CONVERGE_TIMEOUT, 300 + 2 N s)
  settle     BENCH_SETTLE_SECONDS (30) for what follows convergence
             (conditions settling, Events), measured apart
  rest       BENCH_REST_SECONDS (120) with nothing changing
  soak       BENCH_SOAK_SECONDS (1800) with BENCH_SOAK_PUSHES (3) pushes
             spread through it; each commits a change to one service and
             calls the operator's webhook, and is timed until every site of
             every pair holds it (and until every pair's status says so)

Figures come from the API server (its /metrics and audit log), the sites'
request log, the git server's request log and /proc; the table is printed at
the end and the figures are written as JSON to DIR/results.json."""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import bed
import counts
import report
from kubeapi import Api, PairWatch

START = time.monotonic()


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def say(msg):
    print(f"bench-scale [{time.monotonic() - START:6.0f} s] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_pid(testbed_dir, name):
    try:
        with open(os.path.join(testbed_dir, "pids", name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Bench:
    def __init__(self, args, procs):
        self.args, self.procs = args, procs
        self.n = args.pairs
        self.services = env_int("BENCH_SERVICES", 100)
        self.dir = args.dir
        self.site_log = os.path.join(self.dir, "sites.requests.jsonl")
        self.git_log = os.path.join(self.dir, "git-http.log")
        self.audit_log = os.path.join(args.testbed_dir, "logs", "audit.log")
        self.no_etag = os.environ.get("BENCH_NO_ETAG") == "1"
        addresses = os.environ.get("BENCH_SITE_ADDRESSES", "distinct")
        if addresses not in ("distinct", "shared"):
            raise SystemExit(f"BENCH_SITE_ADDRESSES={addresses!r}: distinct or shared")
        self.distinct = addresses == "distinct"
        self.r = {"pairs": self.n, "services": self.services, "no_etag": self.no_etag,
                  "site_addresses": addresses,
                  "workers": bed.worker_threads()}

    def install_crd(self):
        crd = os.path.join(self.args.repo_root, "crds/sitehapair.io_sitehapairs.yaml")
        env = dict(os.environ, KUBECONFIG=self.args.kubeconfig,
                   KUBECACHEDIR=os.path.join(self.dir, "kubecache"))
        subprocess.run([self.args.kubectl, "apply", "--server-side", "--force-conflicts", "-f", crd],
                       env=env, check=True, stdout=subprocess.DEVNULL)

        # Polled here: `kubectl wait --for=condition=Established` fails at
        # once when it reads the definition before it has any conditions.
        def established():
            code, body = self.api.request(
                "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sitehapairs.sitehapair.io")
            crd = json.loads(body) if code == 200 else {}
            conditions = crd.get("status", {}).get("conditions") or []
            return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

        bed.wait_for("the SiteHAPair definition to be established", 60, established)
        bed.wait_for("the SiteHAPair API to be served", 60,
                     lambda: self.api.request("GET", f"/apis/sitehapair.io/v1alpha1/namespaces/{bed.NAMESPACE}/sitehapairs")[0] == 200)

    def setup(self):
        if not os.path.exists(self.audit_log):
            raise SystemExit(f"no audit log at {self.audit_log}: start the test bed with TESTBED_AUDIT=1")
        self.api = Api(self.args.kubeconfig, os.path.join(self.dir, "api"))
        bed.create_namespace(self.api)
        self.install_crd()
        say(f"git repository of {self.services} services, {2 * self.n} virtual sites, {2 * self.n} Secrets")
        self.repo = bed.Repo(self.dir, self.services)
        _, self.git_url = bed.start_git_server(self.procs, self.args.repo_root, self.dir, self.git_log)
        site, self.site_addr = bed.start_sites(self.procs, self.args.bin_dir, self.dir, 2 * self.n, self.site_log,
                                                 self.no_etag, self.distinct)
        bed.create_secrets(self.api, self.n)
        self.watch = PairWatch(self.api, bed.NAMESPACE)
        self.watch.start()
        pids = {"site": site.pid}
        for name in ("kube-apiserver", "etcd"):
            pid = read_pid(self.args.testbed_dir, name)
            if pid:
                pids[name] = pid
        self.probe = counts.Probe(self.api, self.audit_log, self.site_log, self.git_log, pids, self.watch)

    def window(self, name, seconds):
        a = self.probe.mark()
        time.sleep(seconds)
        b = self.probe.mark()
        self.r[name] = self.probe.window(a, b)

    def start_operator(self):
        self.op = bed.Operator(self.procs, self.args.bin_dir, self.dir, self.args.kubeconfig, free_port())
        self.probe.pids["operator"] = self.op.pid
        bed.wait_for("the operator's /healthz", 60, lambda: (self.op.get("/healthz") or "").strip() == "ok")
        bed.wait_for("the operator to lead", 60, lambda: self.op.metric("sitehapair_leader") == 1)
        self.r["rss_start"] = counts.rss_mib(self.op.pid)

    def converge(self):
        n = self.n
        a = self.probe.mark()
        t0 = time.monotonic()
        bed.apply_pairs(self.api, n, self.site_addr, self.git_url, distinct=self.distinct)
        self.r["applied_s"] = time.monotonic() - t0
        say(f"{n} pairs applied in {self.r['applied_s']:.1f} s; waiting for Ready and InSync")
        samples, state = [], {"next": 0.0, "said": time.monotonic()}

        def done():
            now = time.monotonic()
            if now >= state["next"]:
                samples.append(self.api.healthz_ms(5))
                state["next"] = now + 5
            k = self.watch.count(lambda s: s["ready"] and s["in_sync"])
            if now - state["said"] >= 15:
                say(f"  {k}/{n} Ready and InSync")
                state["said"] = now
            if self.op.proc.poll() is not None:
                raise RuntimeError(f"the operator exited ({self.op.proc.returncode}); see {self.op.log}")
            return k == n

        bed.wait_for("all pairs Ready and InSync", env_int("BENCH_CONVERGE_TIMEOUT", 300 + 2 * n), done, 0.5)
        self.r["converge_s"] = time.monotonic() - t0
        self.r["convergence"] = self.probe.window(a, self.probe.mark())
        self.r["healthz_converge"] = statistics.median(samples)
        self.r["rss_converged"] = counts.rss_mib(self.op.pid)
        say(f"all {n} pairs Ready and InSync after {self.r['converge_s']:.1f} s")


    def push(self, k):
        n = self.n
        a = self.probe.mark()
        svc, rev = self.repo.bump(k % self.services)
        off = counts.line_end(self.site_log)
        t_wall, t0 = time.time(), time.monotonic()
        status = self.op.hook(self.git_url)
        timeout = 120 + n
        seen = bed.wait_for(f"every site to hold {svc} of {rev[:8]}", timeout, lambda: (
            lambda s: s if len(s) == 2 * n else None)(counts.service_writes_of(self.site_log, off, svc)), 0.5)
        sites_s = max(seen.values()) - t_wall
        bed.wait_for(f"every pair's status to show {rev[:8]}", timeout, lambda: self.watch.count(
            lambda s: s["in_sync"] and s["synced"] == (rev, rev)) == n, 0.2)
        status_s = time.monotonic() - t0
        b = self.probe.mark()
        one = {"service": svc, "commit": rev, "hook_status": status, "sites_s": sites_s,
               "status_s": status_s, "healthz_ms": self.api.healthz_ms(5),
               "window": self.probe.window(a, b)}
        say(f"push {k + 1}: {svc} at every site after {sites_s:.2f} s, in every status after {status_s:.2f} s")
        return one

    def soak(self):
        seconds = env_int("BENCH_SOAK_SECONDS", 1800)
        pushes = env_int("BENCH_SOAK_PUSHES", 3)
        say(f"soak: {seconds} s with {pushes} pushes")
        a = self.probe.mark()
        t0 = time.monotonic()
        rss = [counts.rss_mib(self.op.pid)]
        healthz = []

        def until(t):
            while True:
                left = t - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(left, 30))
                rss.append(counts.rss_mib(self.op.pid))
                healthz.append(self.api.healthz_ms(5))

        self.r["pushes"] = []
        for k in range(pushes):
            until(t0 + seconds * (k + 1) / (pushes + 1))
            self.r["pushes"].append(self.push(k))
        until(t0 + seconds)
        self.r["soak"] = self.probe.window(a, self.probe.mark())
        self.r["rss_soak_series"] = rss
        self.r["rss_soak"] = counts.rss_mib(self.op.pid)
        self.r["rss_peak"] = counts.rss_mib(self.op.pid, "VmHWM")
        self.r["healthz_soak"] = statistics.median(healthz) if healthz else None

    def run(self):
        self.setup()
        self.r["healthz_idle"] = self.api.healthz_ms()
        baseline = env_int("BENCH_BASELINE_SECONDS", 30)
        say(f"baseline: {baseline} s with no operator")
        self.window("baseline", baseline)
        self.start_operator()
        self.converge()
        settle = env_int("BENCH_SETTLE_SECONDS", 30)
        say(f"settle: {settle} s")
        self.window("settle", settle)
        rest = env_int("BENCH_REST_SECONDS", 120)
        say(f"rest: {rest} s")
        self.r["healthz_rest"] = self.api.healthz_ms()
        self.window("rest", rest)
        self.r["rss_rest"] = counts.rss_mib(self.op.pid)
        self.soak()
        self.r["site_rss"] = counts.rss_mib(self.probe.pids["site"])
        self.r["watch_error"] = self.watch.error
        return self.r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--testbed-dir", required=True, help="the test bed's folder (logs/audit.log, pids/)")
    ap.add_argument("--bin-dir", required=True, help="cargo's release folder (sitehapair, examples/reference-site)")
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--repo-root", required=True)
    ap.add_argument("--dir", required=True, help="working folder")
    args = ap.parse_args()
    if args.pairs < 1:
        raise SystemExit("PAIRS must be at least 1")

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    procs = bed.Processes()
    try:
        results = Bench(args, procs).run()
    finally:
        procs.stop_all()
    report.save(results, os.path.join(args.dir, "results.json"))
    report.show(results)


if __name__ == "__main__":
    main()
