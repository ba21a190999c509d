// A kill between the model checkpoint and the serving file (simulated by putting back the previous serving.bin,
// which is what such a kill leaves now that the checkpoint is written first): the restarted server serves the
// checkpoint's segment at once and does not train that segment a second time.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"
#include "tests/faults/server_child.h"

using namespace gpt4rec::faults;
namespace fs = std::filesystem;

namespace {

void CloseSegment(v1::Recommender::Stub* stub) {
  grpc::ClientContext ctx;
  Deadline(&ctx, 10000);
  v1::CloseSegmentReply closed;
  REQUIRE(stub->CloseSegment(&ctx, v1::CloseSegmentRequest(), &closed).ok());
}

void WaitForModel(v1::Recommender::Stub* stub, uint64_t version) {
  REQUIRE(PollUntil([&] { return Stats(stub).model_version() >= version && !Stats(stub).training_now(); },
                    std::chrono::seconds(120)));
}

void CloseAndTrain(v1::Recommender::Stub* stub, uint64_t version) {
  CloseSegment(stub);
  WaitForModel(stub, version);
}

v1::RecommendReply RecommendOk(v1::Recommender::Stub* stub, const std::string& user) {
  grpc::ClientContext ctx;
  Deadline(&ctx, 10000);
  v1::RecommendRequest req;
  req.set_user_id(user);
  v1::RecommendReply out;
  REQUIRE(stub->Recommend(&ctx, req, &out).ok());
  return out;
}

}  // namespace

TEST_CASE("checkpoint ahead of serving.bin after a kill: served at once, not retrained") {
  gpt4rec::testing::TempDir dir("faults-ckpt");
  const std::string data = dir / "data";
  const fs::path serving = fs::path(data) / "model" / "serving.bin";
  ServerChild server;
  REQUIRE(server.Start(data));
  auto stub = server.Connect();
  v1::IngestReply rep;
  REQUIRE(IngestBatch(stub.get(), Communities(30, 20, 5, 1000), &rep).ok());
  CloseAndTrain(stub.get(), 1);
  fs::copy_file(serving, dir / "serving.v1");
  REQUIRE(IngestBatch(stub.get(), Communities(30, 20, 5, 9000, "x"), &rep).ok());
  CloseAndTrain(stub.get(), 2);
  server.Kill(SIGKILL);
  fs::copy_file(dir / "serving.v1", serving, fs::copy_options::overwrite_existing);

  REQUIRE(server.Start(data));
  stub = server.Connect();
  const auto stats = Stats(stub.get());
  CHECK(stats.model_version() == 2);  // re-exported from the checkpoint, the version after serving.bin's
  CHECK(stats.training_queue() == 0);  // segment 1 is not queued for a second training
  CHECK_FALSE(stats.training_now());
  const v1::RecommendReply out = RecommendOk(stub.get(), "ax1");
  CHECK(out.model_version() == 2);
  CHECK(out.source() == v1::MODEL);
  CHECK(server.Terminate() == 0);
}

// A training that fails (here: the checkpoint cannot be written, a directory squats on its temp file) is not a
// crash: the server keeps serving, GetStats says why training is paused, and a restart after the cause is gone
// trains the segment from the last checkpoint.
TEST_CASE("a failed training is reported in GetStats, the server keeps serving, a restart retries it") {
  gpt4rec::testing::TempDir dir("faults-trainfail");
  const std::string data = dir / "data";
  const fs::path squatter = fs::path(data) / "model" / "model.ckpt.tmp";
  ServerChild server;
  REQUIRE(server.Start(data));
  auto stub = server.Connect();
  v1::IngestReply rep;
  REQUIRE(IngestBatch(stub.get(), Communities(30, 20, 5, 1000), &rep).ok());
  fs::create_directories(squatter);
  { std::ofstream(squatter / "keep") << "x"; }  // non-empty: the writer's remove() of its temp file fails
  CloseSegment(stub.get());
  REQUIRE(PollUntil([&] { return !Stats(stub.get()).training_error().empty(); }, std::chrono::seconds(120)));
  const auto stats = Stats(stub.get());
  CHECK(stats.training_error().find("segment 0") == 0);
  CHECK(stats.training_error().find("model checkpoint") != std::string::npos);
  CHECK(stats.model_version() == 0);
  CHECK_FALSE(stats.training_now());
  CHECK(RecommendOk(stub.get(), "a1").model_version() == 0);  // the process is alive and answers (no model yet)
  CHECK(server.Terminate() == 0);

  fs::remove_all(squatter);
  REQUIRE(server.Start(data));
  stub = server.Connect();
  WaitForModel(stub.get(), 1);
  CHECK(Stats(stub.get()).training_error().empty());
  CHECK(server.Terminate() == 0);
}
