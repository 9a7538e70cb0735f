"""The scale benchmark's table: the figures of issue 12, each beside the
API server's /healthz round trip in the same phase of the same run, then the
API calls by verb and resource per phase, and the site calls per phase."""

import json

from counts import SITE_CALLS


def save(r, path):
    with open(path, "w") as f:
        json.dump(r, f, indent=1, sort_keys=True)


def per_s(count, w):
    return count / w["seconds"]


def total(d):
    return sum(d.values())


def api_rates(w, who="operator"):
    return {k: per_s(v, w) for k, v in w["api_by"][who].items()}


def api_minus_baseline(w, base):
    """apiserver_request_total rates of a window minus the baseline's rates."""
    keys = set(w["api_all"]) | set(base["api_all"])
    return {k: per_s(w["api_all"].get(k, 0), w) - per_s(base["api_all"].get(k, 0), base) for k in keys}


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def writes(w):
    return {k: v for k, v in w["api_by"]["operator"].items() if k.split()[0] in WRITES}


def status_writes(w):
    return sum(v for k, v in w["api_by"]["operator"].items()
               if k.split()[0] in ("PATCH", "UPDATE") and k.endswith("sitehapairs/status"))


def brief(rates, top=4):
    items = sorted(((k, v) for k, v in rates.items() if abs(v) >= 0.005), key=lambda kv: -abs(kv[1]))
    text = ", ".join(f"{k} {v:.2f}" for k, v in items[:top])
    if len(items) > top:
        text += ", ..."
    return text or "none"


def brief_counts(d, top=4):
    items = sorted(d.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} x{v}" for k, v in items[:top])
    return text + (", ..." if len(items) > top else "") if text else "none"


def sites_brief(w):
    c = w["sites"]
    parts = [f"{k} {per_s(c[k], w):.2f}" for k in SITE_CALLS if c[k]]
    return f"{per_s(total(c), w):.1f}/s: " + ", ".join(parts) if parts else "none"


def git_brief(w):
    g = w["git"]
    return (f"{g['connections']} connections, {g['ref checks']} ref checks, {g['fetches']} fetches "
            f"in {w['seconds']:.0f} s")


def ms(v):
    return f"{v:.1f} ms" if v is not None else "-"


def cpu_brief(cpu):
    """CPU seconds by process, as one line."""
    return ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items())


def show(r):
    n = r["pairs"]
    conv, rest, soak, base = r["convergence"], r["rest"], r["soak"], r["baseline"]
    needed = n * 2 / 10
    pushes = r.get("pushes", [])
    rows = [
        ("apply -> all Ready and InSync", f"{r['converge_s']:.1f} s (objects applied in {r['applied_s']:.1f} s)",
         f"{ms(r['healthz_converge'])} (idle bed {ms(r['healthz_idle'])})"),
        ("operator RSS", f"start {r['rss_start']:.0f}, converged {r['rss_converged']:.0f}, rest {r['rss_rest']:.0f}, "
         f"after {soak['seconds']:.0f} s soak {r['rss_soak']:.0f} MiB (peak {r['rss_peak']:.0f})",
         ms(r["healthz_soak"])),
        ("operator RSS over the soak", " ".join(f"{v:.0f}" for v in r["rss_soak_series"]) + " MiB", ""),
        ("operator CPU at rest", f"{rest['cpu'].get('operator', 0):.2f} s in {rest['seconds']:.0f} s "
         f"({100 * rest['cpu'].get('operator', 0) / rest['seconds']:.1f} % of one core)", ms(r["healthz_rest"])),
        ("operator CPU converging", f"{conv['cpu'].get('operator', 0):.1f} s in {conv['seconds']:.0f} s", ""),
        ("API req/s by operator at rest", f"{per_s(total(rest['api_by']['operator']), rest):.2f} (audit)",
         ms(r["healthz_rest"])),
        ("API req/s at rest, all - baseline", f"{sum(api_minus_baseline(rest, base).values()):.2f} (metrics)", ""),
        ("API req/s by operator converging", f"{per_s(total(conv['api_by']['operator']), conv):.1f} (audit)",
         ms(r["healthz_converge"])),
        ("status writes at rest", f"{60 * status_writes(rest) / rest['seconds']:.2f} per minute "
         f"({status_writes(rest)} in {rest['seconds']:.0f} s)", ""),
        ("operator writes at rest", f"{60 * total(writes(rest)) / rest['seconds']:.1f} per minute: "
         + brief({k: 60 * v / rest["seconds"] for k, v in writes(rest).items()}), ""),
        ("status fields changed at rest", brief_counts(rest["status_changes"]), ""),
        ("settle window after convergence", f"{total(writes(r['settle']))} operator writes in "
         f"{r['settle']['seconds']:.0f} s: " + brief(writes(r["settle"])), ""),
        ("site req/s at rest", sites_brief(rest), ""),
        ("health checks at rest", f"{per_s(rest['sites']['health'], rest):.1f}/s received, {needed:.1f}/s needed "
         f"({2 * n} sites / 10 s; {rest['sites_checked']} sites checked)", ""),
        ("site req/s converging", sites_brief(conv), ""),
        ("git at rest", git_brief(rest), ""),
        ("git converging", git_brief(conv), ""),
        ("git over the soak", git_brief(soak), ""),
    ]
    for i, p in enumerate(pushes):
        w = p["window"]
        rows.append((f"push {i + 1} -> every site on the commit",
                     f"{p['sites_s']:.2f} s (every status: {p['status_s']:.2f} s; webhook {p['hook_status']}; "
                     f"{total(w['api_by']['operator'])} operator API calls, "
                     f"{w['sites']['service writes']} site writes, {w['git']['fetches']} fetches; CPU "
                     + cpu_brief(w["cpu"]) + ")",
                     ms(p["healthz_ms"])))
    rows.append(("this harness's API req/s (in 'all')", f"rest {per_s(total(rest['api_by']['bench']), rest):.2f}, "
                 f"converging {per_s(total(conv['api_by']['bench']), conv):.2f}, "
                 f"baseline {per_s(total(base['api_by']['bench']), base):.2f}", ""))
    cpu = rest["cpu"]
    rows.append(("others' CPU at rest", cpu_brief({k: v for k, v in cpu.items() if k != "operator"}), ""))
    rows.append(("reference site RSS", f"{r['site_rss']:.0f} MiB ({2 * n} virtual sites x {r['services']} services)", ""))
    if r.get("watch_error"):
        rows.append(("harness watch", f"last error: {r['watch_error']}", ""))

    w1 = max(len(a) for a, _, _ in rows)
    w2 = max(len(b) for _, b, _ in rows)
    print()
    print(f"bench-scale: {n} pairs x 2 sites x {r['services']} services, one git repository "
          f"(git http-backend over HTTP/1.0), release build with {r.get('workers', '?')} runtime worker(s), audit log on, "
          + ("sites without ETags (every listing whole)" if r.get("no_etag") else "sites with ETags (304 while unchanged)")
          + (", each site at an address of its own" if r.get("site_addresses") == "distinct"
             else ", every site at one address"))
    print(f"{'figure':<{w1}}  {'value':<{w2}}  API /healthz p50")
    for a, b, c in rows:
        print(f"{a:<{w1}}  {b:<{w2}}  {c}")

    print()
    print("API requests per second by verb and resource (operator: audit log by user agent; "
          "all: apiserver_request_total)")
    phases = [("op rest", api_rates(rest)), ("op converge", api_rates(conv)), ("op soak", api_rates(soak)),
              ("all-base rest", api_minus_baseline(rest, base)), ("all converge", {k: per_s(v, conv) for k, v in conv["api_all"].items()}),
              ("baseline", {k: per_s(v, base) for k, v in base["api_all"].items()})]
    keys = sorted({k for _, d in phases[:3] for k in d}
                  | {k for k, v in phases[3][1].items() if abs(v) >= 0.01})
    head = f"{'':<38}" + "".join(f"{name:>15}" for name, _ in phases)
    print(head)
    for k in keys:
        print(f"{k:<38}" + "".join(f"{d.get(k, 0.0):>15.3f}" for _, d in phases))
    print(f"{'total':<38}" + "".join(f"{sum(d.values()):>15.3f}" for _, d in phases))

    print()
    print("site requests per second by call")
    print(f"{'':<16}" + "".join(f"{k:>15}" for k in SITE_CALLS))
    for name, w in (("converge", conv), ("rest", rest), ("soak", soak)):
        print(f"{name:<16}" + "".join(f"{per_s(w['sites'][k], w):>15.2f}" for k in SITE_CALLS))
