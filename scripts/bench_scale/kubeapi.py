"""The Kubernetes API for the scale benchmark, with the standard library
only: an HTTPS client holding the test bed's admin certificate (from its
kubeconfig), server-side apply, the API server's /metrics and /healthz, and
a watch of the SiteHAPairs of one namespace kept in memory, so that waiting
on many pairs costs the API server one watch rather than repeated lists.
Every request says User-Agent: bench-scale/1, so the audit log tells the
harness's calls from the operator's."""

import base64
import http.client
import json
import os
import re
import ssl
import threading
import time
import urllib.parse

USER_AGENT = "bench-scale/1"
GROUP = "/apis/sitehapair.io/v1alpha1"


class ApiError(Exception):
    pass


class Api:
    """A small client of one API server; one keep-alive connection per thread."""

    def __init__(self, kubeconfig, workdir):
        text = open(kubeconfig).read()

        def field(name):
            m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(name), text, re.M)
            if not m:
                raise ApiError(f"{kubeconfig}: no {name}")
            return m.group(1)

        url = urllib.parse.urlparse(field("server"))
        self.host, self.port = url.hostname, url.port or 443
        os.makedirs(workdir, exist_ok=True)
        paths = {}
        for key, file in [("certificate-authority-data", "ca.crt"),
                          ("client-certificate-data", "client.crt"),
                          ("client-key-data", "client.key")]:
            p = os.path.join(workdir, file)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(field(key)))
            paths[file] = p
        self.ctx = ssl.create_default_context(cafile=paths["ca.crt"])
        self.ctx.load_cert_chain(paths["client.crt"], paths["client.key"])
        self.local = threading.local()

    def connect(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = self.connect()
        return c

    def request(self, method, path, body=None, content_type="application/json"):
        """(status, body bytes); one retry on a dropped keep-alive connection."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt:
                    raise
        raise ApiError("unreachable")

    def json(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        status, data = self.request(method, path, body, content_type)
        if status not in ok:
            raise ApiError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data else None

    def apply(self, path, obj, manager="bench-scale"):
        """Server-side apply of one object at its own path."""
        q = urllib.parse.urlencode({"fieldManager": manager, "force": "true"})
        return self.json("PATCH", f"{path}?{q}", obj, "application/apply-patch+yaml")

    def healthz_ms(self, samples=10):
        """The median round trip of GET /healthz in milliseconds, on one
        warm connection (no handshake in the figure)."""
        c = self.connect(timeout=10)
        times = []
        try:
            c.request("GET", "/healthz", headers={"User-Agent": USER_AGENT})
            c.getresponse().read()
            for _ in range(samples):
                t = time.perf_counter()
                c.request("GET", "/healthz", headers={"User-Agent": USER_AGENT})
                c.getresponse().read()
                times.append((time.perf_counter() - t) * 1000)
        finally:
            c.close()
        times.sort()
        return times[len(times) // 2]

    def request_totals(self):
        """apiserver_request_total summed by "VERB resource[/subresource]"
        (non-resource URLs as "VERB (url)"; APPLY counted as PATCH)."""
        status, data = self.request("GET", "/metrics")
        if status != 200:
            raise ApiError(f"GET /metrics: {status}")
        totals = {}
        for line in data.decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels, _, value = line.rpartition(" ")
            lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            what = lab.get("resource") or "(url)"
            if lab.get("subresource"):
                what += "/" + lab["subresource"]
            verb = lab.get("verb", "?")
            key = f"{'PATCH' if verb == 'APPLY' else verb} {what}"
            totals[key] = totals.get(key, 0.0) + float(value)
        return totals


def pair_summary(obj):
    """What the benchmark waits on: Ready, InSync, the revision each site holds."""
    st = obj.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    return {
        "ready": conds.get("Ready") == "True",
        "in_sync": conds.get("InSync") == "True",
        "synced": tuple(s.get("syncedRevision") for s in st.get("sites") or []),
        "source": (st.get("source") or {}).get("revision"),
    }


def flatten(v, prefix="", out=None):
    """{"status.sites[east].health": "Healthy", ...}: list items named by
    their name or type, so that the same field of every pair has one path."""
    out = {} if out is None else out
    if isinstance(v, dict):
        for k, x in v.items():
            flatten(x, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            key = (x.get("name") or x.get("type") or i) if isinstance(x, dict) else i
            flatten(x, f"{prefix}[{key}]", out)
    else:
        out[prefix] = v
    return out


class PairWatch(threading.Thread):
    """A list and then a watch of the SiteHAPairs of one namespace; the
    latest summary of each pair is kept, and how often each status field
    changed (`changes`, by path). Re-lists after 410 Gone."""

    def __init__(self, api, namespace):
        super().__init__(daemon=True)
        self.api, self.ns = api, namespace
        self.lock = threading.Lock()
        self.pairs = {}
        self.status = {}
        self.changes = {}
        self.rv = None
        self.error = None

    def changed(self, name, obj):
        """Count the status fields that differ from the pair's last status."""
        new = flatten(obj.get("status") or {}, "status")
        old = self.status.get(name)
        self.status[name] = new
        if old is None:
            return
        for k in set(old) | set(new):
            if old.get(k) != new.get(k):
                self.changes[k] = self.changes.get(k, 0) + 1

    def path(self):
        return f"{GROUP}/namespaces/{self.ns}/sitehapairs"

    def relist(self):
        lst = self.api.json("GET", self.path())
        with self.lock:
            self.pairs = {i["metadata"]["name"]: pair_summary(i) for i in lst.get("items", [])}
            self.status = {i["metadata"]["name"]: flatten(i.get("status") or {}, "status")
                           for i in lst.get("items", [])}
            self.rv = lst["metadata"]["resourceVersion"]

    def run(self):
        while True:
            try:
                if self.rv is None:
                    self.relist()
                self.watch_once()
            except Exception as e:  # keep watching; the bench reads self.error
                self.error = repr(e)
                time.sleep(1)

    def watch_once(self):
        q = urllib.parse.urlencode({"watch": "1", "resourceVersion": self.rv,
                                    "allowWatchBookmarks": "true", "timeoutSeconds": "300"})
        c = self.api.connect(timeout=400)
        try:
            c.request("GET", f"{self.path()}?{q}", headers={"User-Agent": USER_AGENT})
            r = c.getresponse()
            if r.status != 200:
                self.rv = None
                return
            while True:
                line = r.readline()
                if not line:
                    return
                ev = json.loads(line)
                obj = ev.get("object") or {}
                kind = ev.get("type")
                if kind == "ERROR":
                    self.rv = None
                    return
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                with self.lock:
                    if rv:
                        self.rv = rv
                    name = (obj.get("metadata") or {}).get("name")
                    if kind in ("ADDED", "MODIFIED") and name:
                        self.pairs[name] = pair_summary(obj)
                        self.changed(name, obj)
                    elif kind == "DELETED" and name:
                        self.pairs.pop(name, None)
                        self.status.pop(name, None)
        finally:
            c.close()

    def change_counts(self):
        with self.lock:
            return dict(self.changes)

    def count(self, pred):
        with self.lock:
            return sum(1 for s in self.pairs.values() if pred(s))
