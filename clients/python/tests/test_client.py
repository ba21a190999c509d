#!/usr/bin/python3
"""The Python client against a live gpt4rec-server, with Debian's python3, python3-grpcio and python3-protobuf.

usage: test_client.py REPO_ROOT SERVER_BIN

1. Installs the package as the README says (`pip install ./clients/python`), offline (--no-index), into a fresh
   virtual environment that sees Debian's system packages (grpcio, protobuf), so the build generates the stubs
   from the proto with nothing downloaded; then re-runs this file inside it (--inner).
2. Starts the real server on a free port with an auth and an admin token and checks, through gpt4rec.Client:
   ingest (typed events, tuples, duplicates on event_id), errors not retried (UNAUTHENTICATED, INVALID_ARGUMENT
   naming the field), POPULAR for an unknown user, close_segment + training, MODEL recommendations without seen
   or excluded items, explain=True's explanation, the online hit rate of a served list, delete_user.
3. Retries and deadlines against an in-process gRPC server whose answers the test scripts: RESOURCE_EXHAUSTED
   twice then OK (3 attempts, backoff delays within their bounds), INVALID_ARGUMENT once (no retry), a handler
   that never answers (DEADLINE_EXCEEDED at the client's deadline); and UNAVAILABLE from a closed port (retries + 1
   attempts).
4. Runs the README's producer and consumer examples against the live server.
"""
import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN, ADMIN = "client-test-token", "client-test-admin"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def outer(root, server_bin):
    tmp = tempfile.mkdtemp(prefix="gpt4rec-pyclient-")
    try:
        venv = os.path.join(tmp, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        # The README's command; --no-index proves nothing is downloaded (the backend needs only protoc).
        subprocess.run([py, "-m", "pip", "install", "--no-index", "--quiet", os.path.join(root, "clients", "python")],
                       check=True, cwd=tmp)
        r = subprocess.run([py, os.path.abspath(__file__), "--inner", root, server_bin], cwd=tmp)
        return r.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(server_bin, data_dir, log_path):
    proc = subprocess.Popen(
        [server_bin, "--addr=127.0.0.1:0", "--metrics_port=-1", "--data_dir=" + data_dir, "--refresh_ms=50",
         "--auth_token=" + TOKEN, "--admin_token=" + ADMIN, "--log_level=warn",
         "--dim=8", "--views=2", "--node_prompts=2", "--structure_prompts=2", "--max_epochs=3", "--min_epochs=1",
         "--batch_size=256", "--threads=1"],
        stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on port (\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError("server did not start: %r\n%s" % (line, open(log_path).read()))
    return proc, "127.0.0.1:" + m.group(1)


def poll(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def live_server_checks(root, addr):
    import grpc
    from gpt4rec import Client, Error, Event

    rows = list(csv.DictReader(open(os.path.join(root, "deploy", "quickstart", "events.csv"))))
    c = Client(addr, TOKEN, admin_token=ADMIN, timeout=30)

    # Ingest: typed events and plain tuples; a retry with event ids is deduplicated.
    half = len(rows) // 2
    r1 = c.ingest([Event(r["user_id"], r["item_id"], int(r["timestamp"]), event_id="q%d" % i)
                   for i, r in enumerate(rows[:half])])
    check(r1.accepted == half and r1.duplicates == 0, "ingest accepted %d of %d" % (r1.accepted, half))
    r2 = c.ingest([(r["user_id"], r["item_id"], int(r["timestamp"])) for r in rows[half:]])
    check(r2.accepted == len(rows) - half, "tuple ingest accepted %d" % r2.accepted)
    check(r2.last_sequence == len(rows), "last_sequence %d != %d" % (r2.last_sequence, len(rows)))
    r3 = c.ingest([Event(rows[0]["user_id"], rows[0]["item_id"], int(rows[0]["timestamp"]), event_id="q0")])
    check(r3.accepted == 0 and r3.duplicates == 1, "repeated event_id: %s" % (r3,))

    # Errors that are not retried.
    try:
        Client(addr, "wrong-token").stats()
        check(False, "a wrong token was accepted")
    except Error as e:
        check(e.code == grpc.StatusCode.UNAUTHENTICATED and e.attempts == 1, "wrong token: %s (%d attempts)" % (e, e.attempts))
    try:
        c.recommend("")
        check(False, "an empty user_id was accepted")
    except Error as e:
        check(e.code == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in e.details and e.attempts == 1,
              "empty user: %s" % e)
    try:
        c.ingest([Event("u1", "", 5)])
        check(False, "an empty item_id was accepted")
    except Error as e:
        check(e.code == grpc.StatusCode.INVALID_ARGUMENT and "events[0].item_id" in e.details, "empty item: %s" % e)
    try:
        Client(addr, TOKEN).close_segment()  # the auth token is not the admin token
        check(False, "close_segment without the admin token was accepted")
    except Error as e:
        check(e.code == grpc.StatusCode.PERMISSION_DENIED, "close_segment with the user token: %s" % e)

    # Before any model: POPULAR.
    poll(lambda: len(c.recommend("nobody", k=5).items) == 5, 30, "the popular list")
    rec = c.recommend("nobody", k=5)
    check(rec.source == "POPULAR" and rec.model_version == 0, "unknown user: %s" % (rec,))

    # Train segment 0; then the model serves u1.
    segment, events = c.close_segment()
    check(segment == 0 and events == len(rows), "close_segment: %s %s" % (segment, events))
    poll(lambda: c.stats().model_version >= 1, 180, "model version 1")
    seen = {r["item_id"] for r in rows if r["user_id"] == "u1"}
    rec = c.recommend("u1", k=5)
    check(rec.source == "MODEL" and rec.model_version == 1 and len(rec.items) == 5, "u1: %s" % (rec,))
    check(not (set(rec.item_ids) & seen), "u1's list holds seen items")
    check(all(a.score >= b.score for a, b in zip(rec.items, rec.items[1:])), "u1's list is not best first")
    check(rec.explanation is None, "an explanation without explain=True")
    # explain=True: the same list, and per item the seen items behind it (shares sorted, summing to <= 1).
    why = c.recommend("u1", k=5, explain=True)
    check(why.items == rec.items and why.explanation is not None, "explain changed the list: %s" % (why,))
    e = why.explanation
    check(e.built_from.startswith("model: the user's trained representation (model version 1"), e.built_from)
    check([i.item_id for i in e.items] == rec.item_ids, "explained items: %s" % (e.items,))
    check(len(e.view_weights) >= 1 and abs(sum(e.view_weights) - 1) < 1e-4, "view weights %s" % (e.view_weights,))
    check(e.view_weights_source == "gamma", "view weights source %s" % e.view_weights_source)
    contributions = 0
    for item, scored in zip(e.items, why.items):
        shares = [b.share for b in item.because_of]
        check(len(shares) <= 3 and shares == sorted(shares, reverse=True) and sum(shares) <= 1 + 1e-5,
              "shares %s" % shares)
        check({b.item_id for b in item.because_of} <= seen, "explained by unseen items: %s" % (item,))
        check(abs(sum(item.view_scores) - scored.score) < 1e-3, "view scores %s vs %s" % (item.view_scores, scored))
        contributions += len(shares)
    check(contributions > 0, "no seen item explains u1's list")
    fresh = c.recommend("nobody", k=3, explain=True)
    check(fresh.source == "POPULAR" and fresh.explanation.built_from.startswith("popular (unknown user)"),
          "popular explanation: %s" % (fresh.explanation,))
    # u1 last: the online check below counts against the list served to u1 last.
    excluded = c.recommend("u1", k=5, exclude=rec.item_ids[:2])
    check(not (set(excluded.item_ids) & set(rec.item_ids[:2])), "exclude ignored: %s" % excluded.item_ids)

    # Online hit rate: u1 was last served `excluded`; an event on its first item is a hit at 10.
    before = c.stats().online
    c.ingest([Event("u1", excluded.item_ids[0], int(rows[-1]["timestamp"]) + 1)])
    after = c.stats().online
    check(after.events == before.events + 1 and after.hits_at_10 == before.hits_at_10 + 1,
          "online hit rate: %s -> %s" % (before, after))

    check(c.delete_user("nobody") is False, "delete of an unknown user")
    check(c.delete_user("u2") is True, "delete of u2")
    c.close()


def scripted_server_checks():
    """Retries, backoff and deadlines against a gRPC server whose answers are scripted."""
    from concurrent import futures

    import grpc
    from gpt4rec import Client, Error
    from gpt4rec.v1 import recommender_pb2 as pb
    from gpt4rec.v1 import recommender_pb2_grpc as pb_grpc

    class Scripted(pb_grpc.RecommenderServicer):
        def __init__(self):
            self.script = []  # status codes to answer, then OK
            self.calls = 0
            self.release = threading.Event()

        def Recommend(self, request, context):
            self.calls += 1
            if request.user_id == "hang":
                self.release.wait(10)
                return pb.RecommendReply()
            if self.script:
                code = self.script.pop(0)
                context.abort(code, "scripted %s" % code.name)
            return pb.RecommendReply(items=[pb.ScoredItem(item_id="i1", score=1.0)], model_version=3,
                                     source=pb.MODEL)

    servicer = Scripted()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_RecommenderServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        sleeps = []
        c = Client("127.0.0.1:%d" % port, retries=3, backoff=0.05, max_backoff=1.0, timeout=10, sleep=sleeps.append)
        servicer.script = [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE]
        rec = c.recommend("u", k=1)
        check(rec.item_ids == ["i1"] and rec.model_version == 3, "scripted reply: %s" % (rec,))
        check(c.last_attempts == 3 and servicer.calls == 3, "retries: %d attempts" % c.last_attempts)
        check(len(sleeps) == 2 and 0 <= sleeps[0] <= 0.05 and 0 <= sleeps[1] <= 0.1,
              "backoff delays %s (bounds 0.05, 0.1)" % sleeps)

        servicer.calls = 0
        servicer.script = [grpc.StatusCode.RESOURCE_EXHAUSTED] * 10
        try:
            c.recommend("u")
            check(False, "RESOURCE_EXHAUSTED forever did not raise")
        except Error as e:
            check(e.code == grpc.StatusCode.RESOURCE_EXHAUSTED and e.attempts == 4 and servicer.calls == 4,
                  "retries exhausted: %s after %d attempts" % (e.code, e.attempts))

        servicer.calls = 0
        servicer.script = [grpc.StatusCode.INVALID_ARGUMENT]
        try:
            c.recommend("u")
            check(False, "INVALID_ARGUMENT did not raise")
        except Error as e:
            check(e.code == grpc.StatusCode.INVALID_ARGUMENT and servicer.calls == 1, "INVALID_ARGUMENT retried")

        t0 = time.monotonic()
        try:
            Client("127.0.0.1:%d" % port, timeout=0.5).recommend("hang")
            check(False, "a call past its deadline returned")
        except Error as e:
            elapsed = time.monotonic() - t0
            check(e.code == grpc.StatusCode.DEADLINE_EXCEEDED and elapsed < 5,
                  "deadline: %s after %.2f s" % (e.code, elapsed))
        servicer.release.set()
    finally:
        server.stop(0)

    # Nothing listens: UNAVAILABLE, retried `retries` times.
    sleeps = []
    c = Client("127.0.0.1:%d" % free_port(), retries=2, timeout=10, sleep=sleeps.append)
    try:
        c.stats()
        check(False, "a closed port answered")
    except Error as e:
        check(e.code == grpc.StatusCode.UNAVAILABLE and e.attempts == 3 and len(sleeps) == 2,
              "closed port: %s after %d attempts" % (e.code, e.attempts))


def readme_examples(root, addr):
    text = open(os.path.join(root, "README.md")).read()
    for name in ("producer", "consumer"):
        m = re.search(r"<!-- python-client:%s:begin -->\s*```python\n(.*?)```\s*<!-- python-client:%s:end -->"
                      % (name, name), text, re.S)
        if not m:
            check(False, "README.md has no python-client:%s block" % name)
            continue
        code = m.group(1)
        check(len(code.strip().splitlines()) <= 12, "README %s example is longer than 12 lines" % name)
        code = code.replace("127.0.0.1:50051", addr)
        env = dict(os.environ, GPT4REC_AUTH_TOKEN=TOKEN)
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "README %s example failed:\n%s%s" % (name, r.stdout, r.stderr))
        print("README %s example:\n%s" % (name, r.stdout.strip()))


def inner(root, server_bin):
    tmp = tempfile.mkdtemp(prefix="gpt4rec-pyclient-server-")
    log = os.path.join(tmp, "server.log")
    proc, addr = start_server(server_bin, os.path.join(tmp, "data"), log)
    try:
        live_server_checks(root, addr)
        scripted_server_checks()
        readme_examples(root, addr)
    except Exception as e:  # a crash of the test itself, reported with the server's log
        failures.append(repr(e))
        import traceback
        traceback.print_exc()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            check(proc.wait(timeout=30) == 0, "server exit status")
        except subprocess.TimeoutExpired:
            proc.kill()
        if failures:
            print("--- server log:\n" + open(log).read()[-3000:], file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("test_client: %d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("test_client: all checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--inner":
        sys.exit(inner(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(outer(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])))
