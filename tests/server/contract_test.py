#!/usr/bin/python3
"""The gpt4rec.v1 contract from outside C++: Debian's python3-grpcio drives build/bin/gpt4rec-server with stubs
generated from proto/gpt4rec/v1/recommender.proto at build time.

usage: contract_test.py --server PATH/gpt4rec-server --stubs BUILD/gen/python
"""
import argparse
import datetime
import math
import re
import subprocess
import sys
import tempfile
import time

from server_process import stop_server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--cli", help="build/bin/gpt4rec-cli: also check the CLI against the same server")
    args = ap.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    from gpt4rec.v1 import recommender_pb2 as pb
    from gpt4rec.v1 import recommender_pb2_grpc as pb_grpc

    data_dir = tempfile.mkdtemp(prefix="gpt4rec-pytest-")
    proc = subprocess.Popen(
        [args.server, "--addr=127.0.0.1:0", "--data_dir=" + data_dir, "--metrics_port=-1", "--segment=manual",
         "--log_level=warn", "--dim=16", "--views=2", "--max_epochs=3", "--min_epochs=2", "--threads=1",
         "--auth_token=py-token", "--admin_token=py-admin", "--refresh_ms=50"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"port (\d+)", line)
        assert m, "no listening line from the server: %r" % line
        channel = grpc.insecure_channel("127.0.0.1:" + m.group(1))
        stub = pb_grpc.RecommenderStub(channel)
        user_md = [("authorization", "Bearer py-token")]
        admin_md = [("authorization", "Bearer py-admin")]

        # Health, called without generated stubs: HealthCheckRequest{} is empty; SERVING is field 1 = 1.
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        assert check(b"", timeout=10) == b"\x08\x01", "health is not SERVING"
        # Server reflection lists our service (raw: ServerReflectionRequest{list_services: ""} is field 7).
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                        request_serializer=lambda b: b, response_deserializer=lambda b: b)
        listing = b"".join(reflect(iter([b"\x3a\x00"]), timeout=10))
        assert b"gpt4rec.v1.Recommender" in listing, listing

        # Auth is enforced.
        try:
            stub.GetStats(pb.GetStatsRequest(), timeout=10)
            raise AssertionError("GetStats without a token succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e

        # Ingest two communities over IngestStream; one reply per batch, in order.
        def batches():
            for side, (up, ip) in enumerate([("a", "A"), ("b", "B")]):
                req = pb.IngestRequest()
                for u in range(20):
                    for j in range(6):
                        req.events.add(user_id="%s%d" % (up, u), item_id="%s%d" % (ip, (u * 7 + j * 3) % 15),
                                       timestamp=1000 + u * 10 + j, event_id="%s-%d-%d" % (up, u, j))
                yield req
        replies = list(stub.IngestStream(batches(), metadata=user_md, timeout=30))
        assert [r.accepted for r in replies] == [120, 120], replies
        assert replies[1].last_sequence == 240

        # Idempotent on event_id.
        again = list(stub.IngestStream(batches(), metadata=user_md, timeout=30))
        assert [r.duplicates for r in again] == [120, 120] and sum(r.accepted for r in again) == 0, again

        # A bad event: INVALID_ARGUMENT naming index and field; nothing written.
        bad = pb.IngestRequest()
        bad.events.add(user_id="ok", item_id="ok", timestamp=5)
        bad.events.add(user_id="ok", item_id="ok", timestamp=5, weight=math.nan)
        try:
            stub.Ingest(bad, metadata=user_md, timeout=10)
            raise AssertionError("NaN weight accepted")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
            assert e.details().startswith("events[1].weight"), e.details()
        stats = stub.GetStats(pb.GetStatsRequest(), metadata=user_md, timeout=10)
        assert stats.events == 240 and stats.users == 40, stats

        # Admin RPC needs the admin token; then train segment 0.
        try:
            stub.CloseSegment(pb.CloseSegmentRequest(), metadata=user_md, timeout=10)
            raise AssertionError("CloseSegment with the user token succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
        closed = stub.CloseSegment(pb.CloseSegmentRequest(), metadata=admin_md, timeout=10)
        assert closed.closed_segment == 0 and closed.events == 240, closed
        deadline = time.time() + 120
        while True:
            stats = stub.GetStats(pb.GetStatsRequest(), metadata=user_md, timeout=10)
            if stats.model_version == 1 and stats.training_queue == 0:
                break
            assert time.time() < deadline, "training did not finish: %s" % stats
            time.sleep(0.05)
        assert stats.last_training.mode == "train", stats.last_training

        rep = stub.Recommend(pb.RecommendRequest(user_id="a3", k=5), metadata=user_md, timeout=10)
        assert rep.source == pb.MODEL and rep.model_version == 1 and len(rep.items) == 5, rep
        seen = {"A%d" % ((3 * 7 + j * 3) % 15) for j in range(6)}
        assert not seen & {i.item_id for i in rep.items}, rep
        scores = [i.score for i in rep.items]
        assert scores == sorted(scores, reverse=True), scores

        # Fold-in for a new user right after their event; popular for an unknown one.
        stub.Ingest(pb.IngestRequest(events=[pb.Event(user_id="fresh", item_id="B2", timestamp=9000)]),
                    metadata=user_md, timeout=10)
        rep = stub.Recommend(pb.RecommendRequest(user_id="fresh", k=5), metadata=user_md, timeout=10)
        assert rep.source == pb.FOLD_IN and "B2" not in {i.item_id for i in rep.items}, rep
        rep = stub.Recommend(pb.RecommendRequest(user_id="stranger"), metadata=user_md, timeout=10)
        assert rep.source == pb.POPULAR and len(rep.items) == 20, rep

        # DeleteUser (admin).
        rep = stub.DeleteUser(pb.DeleteUserRequest(user_id="fresh"), metadata=admin_md, timeout=30)
        assert rep.deleted and rep.edges_removed == 1, rep
        if args.cli:
            check_cli(args.cli, "127.0.0.1:" + m.group(1), data_dir)
        print("python contract test: ok")
    finally:
        rc = stop_server(proc, data_dir)
    assert rc == 0, "server exited with %d after SIGTERM" % rc


def check_cli(cli, addr, data_dir):
    """gpt4rec-cli against the running server: ingest a CSV, stats, recommend, health, admin checks, bad input."""
    common = ["--addr=" + addr, "--auth_token=py-token"]

    def run(*argv, admin=False):
        extra = ["--admin_token=py-admin"] if admin else []
        return subprocess.run([cli] + common + extra + list(argv), capture_output=True, text=True, timeout=60)

    csv = data_dir + "/events.csv"
    with open(csv, "w") as f:
        f.write("user,item,timestamp,type,weight\n")
        for i in range(30):
            f.write("csv%d,A%d,%d,1,1.5\n" % (i % 5, i % 15, 20000 + i))
    r = run("ingest", "--quiet", "--idempotent", csv)
    assert r.returncode == 0 and "ingested 30 events" in r.stdout, (r.stdout, r.stderr)
    r = run("ingest", "--quiet", "--idempotent", csv)  # event_id = file:line: nothing stored twice
    assert r.returncode == 0 and "ingested 0 events (30 duplicates)" in r.stdout, (r.stdout, r.stderr)
    r = run("stats")
    assert r.returncode == 0 and "events 270" in r.stdout and "model version 1" in r.stdout, r.stdout
    # Times as UTC dates with the raw unix seconds after them: the open segment spans the CSV's 20000..20029.
    assert "1970-01-01T05:33:20Z (20000) to 1970-01-01T05:33:49Z (20029)" in r.stdout, r.stdout
    m = re.search(r"finished at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \((\d+)\)", r.stdout)
    assert m, r.stdout
    finished = datetime.datetime.fromtimestamp(int(m.group(2)), datetime.timezone.utc)
    assert m.group(1) == finished.strftime("%Y-%m-%dT%H:%M:%SZ") and abs(time.time() - int(m.group(2))) < 600, r.stdout
    r = run("recommend", "--user=a3", "--k=3")
    assert r.returncode == 0 and "source model" in r.stdout and len(r.stdout.strip().splitlines()) == 4, r.stdout
    # --explain: what the list was built from and the view weights, then per item the seen items behind it.
    r = run("recommend", "--user=a3", "--k=3", "--explain")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 6, r.stdout
    assert lines[1].startswith("built from: model: the user's trained representation (model version 1"), r.stdout
    # A trained user's weights are the model's gamma (uniform here: GPT4Rec's segment 0 keeps its prompts at identity).
    assert re.fullmatch(r"view weights:( [01]\.\d{3}){2} \(the view prompt's gamma\)", lines[2]), r.stdout
    a3_seen = {"A%d" % ((3 * 7 + j * 3) % 15) for j in range(6)}
    because = 0
    for line in lines[3:]:
        assert re.search(r"  views( -?\d+\.\d{4}){2}$", line), line
        m = re.search(r"because of (.*);", line)
        if m:
            ids = [part.split(" (")[0] for part in m.group(1).split(", ")]
            assert 1 <= len(ids) <= 3 and set(ids) <= a3_seen, line
            because += 1
    assert because > 0, r.stdout
    r = run("health")
    assert r.returncode == 0 and r.stdout.strip() == "SERVING", (r.stdout, r.stderr)
    r = run("delete-user", "--user=csv1")
    assert r.returncode == 1 and "admin" in r.stderr, (r.stdout, r.stderr)
    r = run("snapshot", "--dir=" + data_dir + "/cli-snap", admin=True)
    assert r.returncode == 0 and "model version 1" in r.stdout, (r.stdout, r.stderr)
    bad = data_dir + "/bad.csv"
    with open(bad, "w") as f:
        f.write("user,item,timestamp\nu1,i1,5\nu2,i2,-7\n")
    r = run("ingest", "--quiet", bad)
    assert r.returncode == 2 and "bad.csv:3: timestamp: negative" in r.stderr, (r.stdout, r.stderr)
    r = subprocess.run([cli, "--addr=" + addr, "stats"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r


if __name__ == "__main__":
    main()
