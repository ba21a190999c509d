// Interrupted snapshots against the real binary: SIGKILL at random points during Snapshot never leaves a
// directory that restores as an empty store; a retry into the same directory succeeds; leftovers are cleaned;
// a directory with model files or a snapshot marker but no store is refused at start; two default-named
// snapshots in the same second do not collide.
#include <filesystem>
#include <future>
#include <random>

#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"
#include "tests/faults/server_child.h"

using namespace gpt4rec::faults;
namespace fs = std::filesystem;

namespace {

grpc::Status Snapshot(v1::Recommender::Stub* stub, const std::string& dir, v1::SnapshotReply* rep) {
  grpc::ClientContext ctx;
  Deadline(&ctx, 60000);
  v1::SnapshotRequest req;
  req.set_dir(dir);
  return stub->Snapshot(&ctx, req, rep);
}

// Ingests `batches` x 5,000 events and trains one segment, so a snapshot has a store and model files to copy.
uint64_t Populate(v1::Recommender::Stub* stub, int batches) {
  for (int b = 0; b < batches; ++b) {
    v1::IngestRequest req;
    for (int i = 0; i < 5000; ++i) {
      const int n = b * 5000 + i;
      *req.add_events() = Ev("u" + std::to_string(n % 2000), "i" + std::to_string((n * 7) % 5000), 1000 + n);
    }
    v1::IngestReply rep;
    REQUIRE(IngestBatch(stub, req, &rep).ok());
  }
  grpc::ClientContext ctx;
  Deadline(&ctx, 10000);
  v1::CloseSegmentReply closed;
  REQUIRE(stub->CloseSegment(&ctx, v1::CloseSegmentRequest(), &closed).ok());
  REQUIRE(PollUntil([&] { return Stats(stub).model_version() >= 1; }, std::chrono::seconds(120)));
  return Stats(stub).events();
}

bool HasPartial(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".partial") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("SIGKILL during Snapshot: no torn snapshot restores; retry works; leftovers cleaned") {
  gpt4rec::testing::TempDir dir("faults-snapshot");
  const std::string data = dir / "data";
  ServerChild server;
  REQUIRE(server.Start(data));
  uint64_t events = 0;
  {
    auto stub = server.Connect();
    events = Populate(stub.get(), 20);
  }
  // How long one snapshot takes here: the kills below land anywhere in [0, 1.5x that].
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto stub = server.Connect();
    v1::SnapshotReply rep;
    REQUIRE(Snapshot(stub.get(), dir / "timed", &rep).ok());
  }
  const auto snapshot_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int64_t> when(0, snapshot_us.count() * 3 / 2);
  std::vector<std::string> targets;  // the explicit-directory rounds' targets
  int killed_mid_way = 0;
  for (int round = 0; round < 6; ++round) {
    const std::string target = round % 2 == 0 ? dir / ("snap" + std::to_string(round)) : "";
    if (!target.empty()) targets.push_back(target);
    auto stub = server.Connect();
    auto call = std::async(std::launch::async, [&] {
      v1::SnapshotReply rep;
      return Snapshot(stub.get(), target, &rep);
    });
    std::this_thread::sleep_for(std::chrono::microseconds(when(rng)));  // fault injection: a random kill point
    server.Kill(SIGKILL);
    call.wait();
    if ((!target.empty() && fs::exists(target + ".partial")) || HasPartial(fs::path(data) / "snapshots")) {
      ++killed_mid_way;
    }
    // Whatever the kill hit: the data directory starts with every event, and no partial snapshot remains.
    REQUIRE(server.Start(data));
    stub = server.Connect();
    CHECK(Stats(stub.get()).events() == events);
    CHECK_FALSE(HasPartial(fs::path(data) / "snapshots"));
  }
  // An explicit target is either complete (the kill came after the rename) or absent: a retry completes it
  // (it used to answer ALREADY_EXISTS for a torn directory).
  for (const auto& target : targets) {
    INFO(target);
    auto stub = server.Connect();
    v1::SnapshotReply rep;
    grpc::Status s = Snapshot(stub.get(), target, &rep);
    if (!s.ok()) CHECK(s.error_code() == grpc::StatusCode::ALREADY_EXISTS);
    CHECK(fs::exists(fs::path(target) / "SNAPSHOT_COMPLETE"));
    CHECK_FALSE(fs::exists(target + ".partial"));
  }
  server.Terminate();
  // Every snapshot directory that exists is complete and restores with all events.
  std::vector<std::string> snapshots = targets;
  snapshots.push_back(dir / "timed");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(data) / "snapshots", ec)) snapshots.push_back(e.path());
  for (const auto& snap : snapshots) {
    INFO(snap);
    CHECK(fs::exists(fs::path(snap) / "SNAPSHOT_COMPLETE"));
    const std::string copy = dir / ("restore-" + fs::path(snap).filename().string());
    fs::copy(snap, copy, fs::copy_options::recursive);
    ServerChild restored;
    REQUIRE(restored.Start(copy));
    auto stub = restored.Connect();
    CHECK(Stats(stub.get()).events() == events);
    CHECK(Stats(stub.get()).model_version() >= 1);
    restored.Terminate();
  }
  WARN("snapshot took " << snapshot_us.count() << " us; " << killed_mid_way << " of 6 kills left a partial one");
}

TEST_CASE("a directory with model files or a snapshot marker but no store is refused, not emptied") {
  gpt4rec::testing::TempDir dir("faults-refuse");
  const std::string data = dir / "data";
  const std::string snap = dir / "snap";
  {
    ServerChild server;
    REQUIRE(server.Start(data));
    auto stub = server.Connect();
    Populate(stub.get(), 1);
    v1::SnapshotReply rep;
    REQUIRE(Snapshot(stub.get(), snap, &rep).ok());
    // Two default-named snapshots back to back (the same second, usually): two directories, both complete.
    v1::SnapshotReply first, second;
    REQUIRE(Snapshot(stub.get(), "", &first).ok());
    REQUIRE(Snapshot(stub.get(), "", &second).ok());
    CHECK(first.dir() != second.dir());
    CHECK(fs::exists(fs::path(first.dir()) / "SNAPSHOT_COMPLETE"));
    CHECK(fs::exists(fs::path(second.dir()) / "SNAPSHOT_COMPLETE"));
    server.Terminate();
  }
  SECTION("model files without graph/") {
    fs::remove_all(fs::path(data) / "graph");
    ServerChild server;
    CHECK_FALSE(server.Start(data));
    CHECK(WIFEXITED(server.exit_status()));
    CHECK(WEXITSTATUS(server.exit_status()) == 1);
    CHECK_THAT(server.log(), Catch::Contains("no graph store"));
    CHECK_FALSE(fs::exists(fs::path(data) / "graph"));  // nothing was created in its place
  }
  SECTION("a snapshot whose graph/ is missing") {
    fs::remove_all(fs::path(snap) / "graph");
    fs::remove_all(fs::path(snap) / "model");
    ServerChild server;
    CHECK_FALSE(server.Start(snap));
    CHECK_THAT(server.log(), Catch::Contains("SNAPSHOT_COMPLETE"));
  }
  SECTION("an interrupted snapshot (marker SNAPSHOT_INCOMPLETE)") {
    std::ofstream(fs::path(snap) / "SNAPSHOT_INCOMPLETE") << "x";
    ServerChild server;
    CHECK_FALSE(server.Start(snap));
    CHECK_THAT(server.log(), Catch::Contains("interrupted snapshot"));
  }
}
