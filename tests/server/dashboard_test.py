#!/usr/bin/python3
"""The dashboard in a real headless browser against a live gpt4rec-server.

usage: dashboard_test.py --server PATH/gpt4rec-server --cli PATH/gpt4rec-cli

Starts the server on 127.0.0.1 with free ports and an auth token, ingests two small communities with gpt4rec-cli,
trains segment 0, checks the JSON endpoints next to /metrics, then loads http://127.0.0.1:PORT/?user=a3#token=...
in Debian's chromium (--headless --dump-dom) and asserts the rendered DOM shows the model version and exactly the
items the gRPC Recommend returns for that user (in order), with their explanations.

Exit 77 (ctest: skipped) only when chromium is absent and cannot be installed (not root, or apt-get fails);
`make test` installs it through scripts/install-deps.sh, so in CI this runs.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from server_process import stop_server

TOKEN = "dash-token"
SKIP = 77


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("chromium missing: apt-get install -y --no-install-recommends chromium", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], env=env,
                       timeout=900)
        return shutil.which("chromium")
    return None


def http(port, path, token=None):
    """(status, parsed JSON or text) of GET http://127.0.0.1:port/path."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status, body, ctype = r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read().decode(), e.headers.get("Content-Type", "")
    return status, json.loads(body) if ctype.startswith("application/json") else body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        print("SKIP: chromium is not installed and could not be installed (needs root and apt-get)")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="gpt4rec-dashboard-")
    proc = subprocess.Popen(
        [args.server, "--addr=127.0.0.1:0", "--data_dir=" + tmp + "/data", "--metrics_port=0",
         "--metrics_bind=127.0.0.1", "--segment=manual", "--log_level=warn", "--dim=16", "--views=2",
         "--max_epochs=3", "--min_epochs=2", "--threads=1", "--auth_token=" + TOKEN, "--refresh_ms=50"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on port (\d+) \(metrics port (\d+)\)", line)
        assert m, "no listening line from the server: %r" % line
        addr, mport = "127.0.0.1:" + m.group(1), int(m.group(2))

        def cli(*argv):
            r = subprocess.run([args.cli, "--addr=" + addr, "--auth_token=" + TOKEN] + list(argv),
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (argv, r.stdout, r.stderr)
            return r.stdout

        csv = tmp + "/events.csv"
        with open(csv, "w") as f:
            f.write("user,item,timestamp\n")
            for side, (up, ip) in enumerate([("a", "A"), ("b", "B")]):
                for u in range(20):
                    for j in range(6):
                        f.write("%s%d,%s%d,%d\n" % (up, u, ip, (u * 7 + j * 3) % 15, 1000 + u * 10 + j))
        cli("ingest", "--quiet", csv)
        cli("close-segment")
        deadline = time.time() + 180
        while True:
            status, o = http(mport, "/api/overview")
            assert status == 200, (status, o)
            if o["model_version"] == 1 and o["training_queue"] == 0:
                break
            assert time.time() < deadline, "training did not finish: %s" % o
            time.sleep(0.05)

        # The JSON endpoints.
        assert o["events"] == 240 and o["users"] == 40 and o["items"] == 30, o
        assert [(s["index"], s["closed"], s["events"]) for s in o["segments"]] == [(0, True, 240), (1, False, 0)], o
        status, models = http(mport, "/api/models")
        assert status == 200 and models["model_version"] == 1 and len(models["trainings"]) == 1, models
        t = models["trainings"][0]
        assert t["model_version"] == 1 and t["segment"] == 0 and t["epochs"] >= 1 and t["mode"] == "train", t
        assert 0 <= t["valid_recall20"] <= 1 and t["final_loss"] > 0, t
        status, series = http(mport, "/api/series")
        assert status == 200 and len(series["samples"]) >= 1 and series["interval_s"] > 0, series
        status, err = http(mport, "/api/user?id=a3")
        assert status == 401, (status, err)  # a user's items need the token
        status, err = http(mport, "/api/user?k=3", TOKEN)
        assert status == 400 and err["error"] == "id: empty", (status, err)
        status, err = http(mport, "/api/user?id=a3&k=0", TOKEN)
        assert status == 400 and err["error"].startswith("k: "), (status, err)
        status, user = http(mport, "/api/user?id=a3", TOKEN)
        assert status == 200 and user["recommendation"]["source"] == "MODEL", (status, user)
        a3_seen = {"A%d" % ((3 * 7 + j * 3) % 15) for j in range(6)}
        assert {i["item_id"] for i in user["recent_items"]} == a3_seen, user
        # Looking at a user is not serving them: no list is recorded for the online hit rate.
        assert http(mport, "/api/overview")[1]["online_tracked_users"] == 0

        # What the gRPC API answers for a3: the items the page must show, in this order.
        out = cli("recommend", "--user=a3", "--k=10")
        expected = [l.split()[1] for l in out.strip().splitlines()[1:]]
        assert len(expected) == 10, out

        # The page itself: nothing in it may point outside this server.
        status, page = http(mport, "/")
        assert status == 200 and "<svg" in page, page[:200]
        outside = [u for u in re.findall(r"https?://[^\s\"'<>)]+", page) if u != "http://www.w3.org/2000/svg"]
        assert not outside, "the page names outside URLs: %s" % outside
        assert not re.search(r"""(src|href)=["'](?!data:)""", page), "the page loads a resource"

        profile = tmp + "/chromium-profile"
        r = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile, "--virtual-time-budget=15000", "--dump-dom",
             "http://127.0.0.1:%d/?user=a3#token=%s" % (mport, TOKEN)],
            capture_output=True, text=True, timeout=120)
        dom = r.stdout
        assert r.returncode == 0 and "</html>" in dom, (r.returncode, dom[-2000:], r.stderr[-2000:])
        assert 'data-state="ready"' in dom, ("page did not finish loading", dom[-3000:], r.stderr[-2000:])
        assert re.search(r'<span id="model-version">1</span>', dom), dom[:2000]
        recs = re.search(r'<ol id="recs">(.*?)</ol>', dom, re.S)
        assert recs, dom[-3000:]
        shown = re.findall(r'<li data-item="([^"]+)">', recs.group(1))
        assert shown == expected, (shown, expected)
        assert '<b id="user-source">MODEL</b>' in dom, dom[-3000:]
        assert "built from: model: the user's trained representation (model version 1" in dom, dom[-3000:]
        because = re.findall(r"because of ([^;<]+)", recs.group(1))
        assert because, recs.group(1)
        for b in because:
            ids = {part.split(" (")[0] for part in b.split(", ")}
            assert ids <= a3_seen, (b, a3_seen)
        shown_recent = set(re.findall(r'<li data-item="([^"]+)">', re.search(r'<ol id="recent">(.*?)</ol>', dom,
                                                                              re.S).group(1)))
        assert shown_recent == a3_seen, shown_recent
        # The model history table and the charts rendered.
        assert re.search(r'<table id="models">.*?<td>1</td><td>0</td><td class="l">train</td>', dom, re.S), dom
        assert re.search(r'<svg id="chart-recall"[^>]*>.*?<path ', dom, re.S), dom
        print("dashboard test: ok (chromium rendered version 1 and a3's %d items)" % len(shown))
    finally:
        rc = stop_server(proc, tmp)
    assert rc == 0, "server exited with %d after SIGTERM" % rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
