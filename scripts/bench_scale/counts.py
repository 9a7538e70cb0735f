"""What the scale benchmark counts, read from where it happens: the API
server's audit log (calls by user agent, verb and resource), the reference
site's request log (calls by kind), the git server's request log, and
/proc (CPU seconds and resident memory of a process). Logs are read between
byte offsets taken at the start and end of a window."""

import calendar
import json
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def line_end(path):
    """The offset just past the last complete line (a writer may be half-way
    through the next one)."""
    n = size(path)
    try:
        with open(path, "rb") as f:
            back = min(n, 1 << 20)
            f.seek(n - back)
            tail = f.read(back)
    except OSError:
        return 0
    i = tail.rfind(b"\n")
    return n - back + i + 1 if i >= 0 else n - back


def lines_between(path, start, end):
    """The lines written between two offsets taken by line_end."""
    if end <= start:
        return
    with open(path, "rb") as f:
        f.seek(start)
        left, rest = end - start, b""
        # In blocks: an audit log of a long soak runs to gigabytes.
        while left > 0:
            block = f.read(min(left, 8 << 20))
            if not block:
                break
            left -= len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line:
                    yield line
        if rest:
            yield rest


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mib(pid, key="VmRSS"):
    """Resident memory (VmRSS, or VmHWM for the peak) in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def parse_time(s):
    """Seconds since the epoch of an RFC 3339 UTC time such as
    2026-01-02T03:04:05.123456789Z (jiff's form)."""
    s = s.rstrip("Z")
    whole, _, frac = s.partition(".")
    date, _, clock = whole.partition("T")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, se = (int(x) for x in clock.split(":"))
    return calendar.timegm((y, mo, d, h, mi, se)) + (float("0." + frac) if frac else 0.0)


# --- the API server's audit log -------------------------------------------------

# Audit verbs as apiserver_request_total names them (where server-side
# apply is APPLY; `Api.request_totals` counts it as PATCH, as the audit log does).
AUDIT_VERBS = {"create": "POST", "update": "PUT"}


def audit_calls(path, start, end):
    """Calls in the audit log between two offsets, by client ("operator",
    "bench", "other") and "VERB resource[/subresource]". A watch counts when
    it starts, any other call when it completes."""
    out = {"operator": {}, "bench": {}, "other": {}}
    for line in lines_between(path, start, end):
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        verb = ev.get("verb", "?")
        stage = ev.get("stage")
        if (verb == "watch") != (stage == "ResponseStarted"):
            continue
        agent = ev.get("userAgent") or ""
        who = ("operator" if agent.startswith("sitehapair/")
               else "bench" if agent.startswith("bench-scale/") else "other")
        ref = ev.get("objectRef") or {}
        what = ref.get("resource") or "(url)"
        if ref.get("subresource"):
            what += "/" + ref["subresource"]
        key = f"{AUDIT_VERBS.get(verb, verb.upper())} {what}"
        out[who][key] = out[who].get(key, 0) + 1
    return out


# --- the reference site's request log --------------------------------------------

SITE_CALLS = ["health", "mode", "info", "services 200", "services 304", "service writes", "mode writes", "other"]


def site_call(method, path, status):
    if path == "/health":
        return "health" if method == "GET" else "other"
    if path == "/mode":
        return "mode" if method == "GET" else "mode writes"
    if path == "/info":
        return "info"
    if path == "/services" and method == "GET":
        return "services 304" if status == 304 else "services 200"
    if path.startswith("/services/") and method in ("PUT", "DELETE"):
        return "service writes"
    return "other"


def site_calls(path, start, end):
    """Calls the sites received between two offsets, by kind; and how many
    distinct sites were health-checked."""
    counts = {k: 0 for k in SITE_CALLS}
    checked = set()
    for line in lines_between(path, start, end):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        kind = site_call(r.get("method"), r.get("path", ""), r.get("status"))
        counts[kind] += 1
        if kind == "health":
            checked.add(r.get("site"))
    return counts, len(checked)


def service_writes_of(path, start, service):
    """{site: time of its last PUT of `service`} after offset `start`."""
    seen = {}
    needle = f'"/services/{service}"'.encode()
    for line in lines_between(path, start, line_end(path)):
        if needle not in line:
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("method") == "PUT" and r.get("status") in (200, 201):
            seen[r.get("site")] = parse_time(r["time"])
    return seen


# --- the git server's request log ------------------------------------------------

def git_requests(path, start, end):
    """Requests to the git server (each one a connection: it speaks HTTP/1.0):
    ref advertisements (GET info/refs) and fetches (a POST git-upload-pack
    answered 200 right after a ref advertisement)."""
    reqs = []
    for line in lines_between(path, start, end):
        try:
            reqs.append(json.loads(line))
        except ValueError:
            pass
    refs = sum(1 for r in reqs if r.get("method") == "GET" and r.get("path", "").endswith("/info/refs"))
    fetches = sum(1 for a, b in zip(reqs, reqs[1:])
                  if a.get("method") == "GET" and b.get("method") == "POST"
                  and b.get("path", "").endswith("/git-upload-pack") and b.get("status") == 200)
    return {"connections": len(reqs), "ref checks": refs, "fetches": fetches}


# --- windows ---------------------------------------------------------------------

class Probe:
    """The files and processes a window is measured on."""

    def __init__(self, api, audit_log, site_log, git_log, pids, watch):
        self.api, self.audit_log, self.site_log, self.git_log = api, audit_log, site_log, git_log
        self.pids = pids  # name -> pid (operator, site, apiserver, etcd)
        self.watch = watch

    def mark(self):
        return {
            "t": time.monotonic(),
            "totals": self.api.request_totals(),
            "audit": line_end(self.audit_log),
            "site": line_end(self.site_log),
            "git": line_end(self.git_log),
            "cpu": {n: cpu_seconds(p) for n, p in self.pids.items()},
            "changes": self.watch.change_counts(),
        }

    def window(self, a, b):
        """Rates and counts between two marks."""
        dt = max(b["t"] - a["t"], 1e-9)
        totals = {k: v - a["totals"].get(k, 0.0) for k, v in b["totals"].items()}
        audit = audit_calls(self.audit_log, a["audit"], b["audit"])
        sites, checked = site_calls(self.site_log, a["site"], b["site"])
        return {
            "seconds": dt,
            "cpu": {n: b["cpu"][n] - a["cpu"].get(n, 0.0) for n in b["cpu"]},
            "api_all": {k: v for k, v in totals.items() if v > 0},
            "api_by": audit,
            "sites": sites,
            "sites_checked": checked,
            "git": git_requests(self.git_log, a["git"], b["git"]),
            "status_changes": {k: v - a["changes"].get(k, 0) for k, v in b["changes"].items()
                               if v > a["changes"].get(k, 0)},
        }
