#!/usr/bin/python3
"""Checks deploy/grafana against deploy/compose.yaml and against a live gpt4rec-server's /metrics.

usage: check_grafana.py REPO_ROOT SERVER_BIN CLI_BIN

1. The dashboard (deploy/grafana/dashboards/gpt4rec.json) parses; every panel query (and the template variable's
   query) names at least one gpt4rec_ metric; every panel and query uses the provisioned datasource's uid; the
   dashboard covers what an operator needs (ingest and recommend rates, both latency histograms, model version,
   training gauges, online hit rate).
2. The provisioning files pass yamllint; compose.yaml has a grafana service that mounts the provisioning folder
   at /etc/grafana/provisioning and the dashboards folder at the path the dashboard provider reads, and the
   datasource URL names compose's prometheus service and port.
3. A real gpt4rec-server (free ports, a fresh data directory) gets traffic through gpt4rec-cli: the quickstart
   events, a Recommend, then an event on a recommended item (so the online hit-rate series exist). Every metric
   name the dashboard queries must have a sample in the live /metrics, and every fixed label matcher
   (name{label="value"}) must match one of its samples.
Nothing is fetched from the network: Grafana itself is not started (no Docker here).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

problems = []


def problem(msg):
    problems.append(msg)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
METRIC = re.compile(r"\b(gpt4rec_[a-zA-Z0-9_:]*)")
SELECTOR = re.compile(r"\b(gpt4rec_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')


def metric_names(expr):
    """gpt4rec_ metric names of a PromQL expression (label values and other strings removed first)."""
    return set(METRIC.findall(STRING.sub('""', expr)))


def check_dashboard(root):
    """Returns {metric name: [expr, ...]} of every query of the dashboard, and the datasource uid it uses."""
    path = os.path.join(root, "deploy", "grafana", "dashboards", "gpt4rec.json")
    try:
        dash = json.load(open(path))
    except (OSError, ValueError) as e:
        problem("%s: %s" % (path, e))
        return {}, [], set()
    uids = set()
    queries = []  # (where, expr)
    for p in walk_panels(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        ds = p.get("datasource") or {}
        uids.add(ds.get("uid"))
        targets = p.get("targets") or []
        if not targets:
            problem("dashboard panel %r has no query" % title)
        for t in targets:
            uids.add((t.get("datasource") or ds).get("uid"))
            expr = t.get("expr", "")
            if not expr:
                problem("dashboard panel %r: a target without expr" % title)
            queries.append(("panel %r" % title, expr))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            uids.add((v.get("datasource") or {}).get("uid"))
            q = v.get("query")
            queries.append(("variable %r" % v.get("name"), q.get("query", "") if isinstance(q, dict) else q or ""))
    used = {}
    for where, expr in queries:
        names = metric_names(expr)
        if not names:
            problem("dashboard %s: query names no gpt4rec_ metric: %s" % (where, expr))
        for n in names:
            used.setdefault(n, []).append(expr)
    # What the dashboard is for (issue 16 item 4).
    for need in ["gpt4rec_ingest_events_total", "gpt4rec_recommendations_total",
                 "gpt4rec_recommend_seconds_bucket", "gpt4rec_ingest_batch_seconds_bucket",
                 "gpt4rec_model_version", "gpt4rec_training_queue", "gpt4rec_training_running",
                 "gpt4rec_training_epoch", "gpt4rec_last_training_valid_recall20", "gpt4rec_online_hit_rate",
                 "gpt4rec_online_hits_total", "gpt4rec_online_events_total"]:
        if need not in used:
            problem("dashboard does not query %s" % need)
    return used, queries, uids


def check_provisioning(root, uids):
    deploy = os.path.join(root, "deploy")
    prov = os.path.join(deploy, "grafana", "provisioning")
    files = [os.path.join(prov, "datasources", "prometheus.yaml"), os.path.join(prov, "dashboards", "gpt4rec.yaml")]
    r = subprocess.run(["yamllint", "-s", "-c", os.path.join(deploy, ".yamllint")] + files,
                       capture_output=True, text=True)
    if r.returncode != 0:
        problem("yamllint:\n" + r.stdout + r.stderr)
    datasources = yaml.safe_load(open(files[0])).get("datasources", [])
    providers = yaml.safe_load(open(files[1])).get("providers", [])
    prom = [d for d in datasources if d.get("type") == "prometheus"]
    if len(prom) != 1:
        problem("grafana: expected one provisioned prometheus datasource, found %d" % len(prom))
        return
    ds = prom[0]
    if uids != {ds.get("uid")}:
        problem("dashboard uses datasource uids %s, provisioned: %r" % (sorted(map(str, uids)), ds.get("uid")))
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml")))
    services = compose.get("services", {})
    m = re.match(r"^http://([^:/]+):(\d+)/?$", ds.get("url", ""))
    if not m:
        problem("grafana datasource url %r is not http://SERVICE:PORT" % ds.get("url"))
    else:
        host, port = m.group(1), m.group(2)
        if host not in services:
            problem("grafana datasource url names %r, not a compose service" % host)
        elif "--web.listen-address" in " ".join(services[host].get("command", [])):
            problem("prometheus listens elsewhere than its default port; check the datasource url")
        elif port != "9090":
            problem("grafana datasource url port %s is not Prometheus' 9090" % port)
    grafana = services.get("grafana")
    if not grafana:
        problem("compose: no grafana service")
        return
    mounts = {}
    for v in grafana.get("volumes", []):
        parts = v.split(":")
        if len(parts) >= 2:
            mounts[parts[1]] = parts[0]
    if mounts.get("/etc/grafana/provisioning") != "./grafana/provisioning":
        problem("compose: grafana does not mount ./grafana/provisioning at /etc/grafana/provisioning")
    for p in providers:
        path = (p.get("options") or {}).get("path")
        if mounts.get(path) != "./grafana/dashboards":
            problem("compose: grafana does not mount ./grafana/dashboards at the provider's path %r" % path)
    if "prometheus" not in (grafana.get("depends_on") or []):
        problem("compose: grafana does not depend on prometheus")
    for port in grafana.get("ports", []):
        if not str(port).startswith("127.0.0.1:"):
            problem("compose: grafana port %s is not bound to 127.0.0.1" % port)


def parse_samples(page):
    """{metric name: [labels dict, ...]} of a Prometheus text page."""
    samples = {}
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if not m:
            continue
        labels = dict((k, v) for k, _, v in MATCHER.findall(m.group(3) or ""))
        samples.setdefault(m.group(1), []).append(labels)
    return samples


def live_metrics(root, server_bin, cli_bin):
    tmp = tempfile.mkdtemp(prefix="check-grafana-")
    proc = subprocess.Popen([server_bin, "--addr=127.0.0.1:0", "--metrics_port=0", "--metrics_bind=127.0.0.1",
                             "--data_dir=" + os.path.join(tmp, "data"), "--refresh_ms=50", "--log_level=warn"],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "server.log"), "w"), text=True)
    try:
        line = proc.stdout.readline()  # the one line the server prints once it serves
        m = re.search(r"listening on port (\d+) \(metrics port (\d+)\)", line)
        if not m:
            raise RuntimeError("server did not start: %r; log:\n%s" % (line, open(os.path.join(tmp, "server.log")).read()))
        addr = "127.0.0.1:" + m.group(1)
        metrics_url = "http://127.0.0.1:%s/metrics" % m.group(2)

        def cli(*args):
            r = subprocess.run([cli_bin, "--addr=" + addr, "--timeout_s=30"] + list(args), capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("gpt4rec-cli %s: %s" % (" ".join(args), r.stderr))
            return r.stdout
        cli("ingest", "--quiet", os.path.join(root, "deploy", "quickstart", "events.csv"))
        # The popular list this unknown user gets is rebuilt every --refresh_ms: ask until it holds items.
        deadline = time.monotonic() + 30
        while True:
            out = cli("recommend", "--user=grafana-check-user", "--k=20")
            items = re.findall(r"^\s*\d+\s+(\S+)\s", out, re.M)
            if items:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("recommend returned no items within 30 s:\n" + out)
            time.sleep(0.05)
        events = os.path.join(tmp, "online.csv")
        with open(events, "w") as f:
            f.write("user_id,item_id,timestamp\n")
            f.write("grafana-check-user,%s,1717300000\n" % items[0])
        cli("ingest", "--quiet", events)
        page = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
        return page
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["rm", "-rf", tmp])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    root, server_bin, cli_bin = sys.argv[1:]
    used, queries, uids = check_dashboard(root)
    check_provisioning(root, uids)
    page = live_metrics(root, server_bin, cli_bin)
    samples = parse_samples(page)
    for name in sorted(used):
        if name not in samples:
            problem("dashboard queries %s, which the live /metrics does not expose" % name)
    for where, expr in queries:
        for name, body in SELECTOR.findall(expr):
            for label, op, value in MATCHER.findall(body):
                if "$" in value or name not in samples:
                    continue  # a dashboard variable; or reported above
                if op == "=" and not any(s.get(label) == value for s in samples[name]):
                    problem("%s: %s{%s=%r} matches no live sample" % (where, name, label, value))
                if op == "=~" and not any(re.fullmatch(value, s.get(label, "")) for s in samples[name]):
                    problem("%s: %s{%s=~%r} matches no live sample" % (where, name, label, value))
    if problems:
        for p in problems:
            print("check_grafana: FAIL: " + p, file=sys.stderr)
        return 1
    print("check_grafana: %d metrics in %d queries, all exposed by a live server" % (len(used), len(queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
