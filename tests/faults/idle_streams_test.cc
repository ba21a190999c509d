// Idle IngestStreams against the real binary: more idle streams than --grpc_threads do not stop unary calls;
// an idle stream costs no thread; past --max_streams a new stream gets RESOURCE_EXHAUSTED; an idle stream is
// closed after --stream_idle_timeout_ms.
#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"
#include "tests/faults/server_child.h"

using namespace gpt4rec::faults;

namespace {

// An open stream that never sends: the client side keeps its context and stream alive.
struct IdleStream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestReply>> stream;
};

}  // namespace

TEST_CASE("idle IngestStreams hold no handler thread; the stream cap and the idle timeout apply") {
  gpt4rec::testing::TempDir dir("faults-streams");
  constexpr int kThreads = 16;
  constexpr int kCap = 200;
  ServerChild server;
  REQUIRE(server.Start(dir / "data", {"--grpc_threads=" + std::to_string(kThreads),
                                      "--max_streams=" + std::to_string(kCap), "--stream_idle_timeout_ms=3000"}));
  auto stub = server.Connect();
  v1::GetStatsReply stats;
  REQUIRE(GetStats(stub.get(), &stats).ok());
  const int threads_before = server.threads();

  // kThreads + 1 idle streams (the case) and then up to the cap, over a few connections.
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  for (int c = 0; c < 4; ++c) stubs.push_back(server.Connect());
  std::vector<std::unique_ptr<IdleStream>> idle;
  for (int i = 0; i < kCap; ++i) {
    auto s = std::make_unique<IdleStream>();
    s->stream = stubs[i % stubs.size()]->IngestStream(&s->ctx);
    REQUIRE(s->stream != nullptr);
    idle.push_back(std::move(s));
    if (i == kThreads) {  // kThreads + 1 open: unary calls must still be answered at once
      v1::IngestRequest req;
      *req.add_events() = Ev("u1", "i1", 1000);
      v1::IngestReply rep;
      CHECK(IngestBatch(stub.get(), req, &rep, 3000).ok());
      CHECK(GetStats(stub.get(), &stats, 3000).ok());
    }
  }
  // The server has seen every stream once a GetStats issued after them is answered (same connections' order
  // is not guaranteed, so poll the thread count's stability instead of assuming).
  REQUIRE(GetStats(stub.get(), &stats, 3000).ok());
  v1::IngestRequest req;
  *req.add_events() = Ev("u2", "i2", 1001);
  v1::IngestReply rep;
  CHECK(IngestBatch(stub.get(), req, &rep, 3000).ok());
  grpc::ClientContext close_ctx;
  Deadline(&close_ctx, 3000);
  v1::CloseSegmentReply closed;
  CHECK(stub->CloseSegment(&close_ctx, v1::CloseSegmentRequest(), &closed).ok());
  // 200 idle streams used to cost ~200 threads; now a handful at most (gRPC's own pollers).
  CHECK(server.threads() - threads_before < 20);

  // Past the cap: RESOURCE_EXHAUSTED naming the flag (poll: the last streams may still be registering).
  bool refused = PollUntil(
      [&] {
        grpc::ClientContext ctx;
        Deadline(&ctx, 3000);
        auto extra = stub->IngestStream(&ctx);
        v1::IngestReply r;
        if (extra->Read(&r)) return false;
        grpc::Status s = extra->Finish();
        if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return false;
        CHECK(s.error_message().find("--max_streams") != std::string::npos);
        return true;
      },
      std::chrono::seconds(10));
  CHECK(refused);

  // The idle timeout closes the idle streams with UNAVAILABLE ("idle"), freeing the cap.
  v1::IngestReply r;
  CHECK_FALSE(idle.front()->stream->Read(&r));  // returns once the server ends the stream (~3 s)
  grpc::Status ended = idle.front()->stream->Finish();
  CHECK(ended.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(ended.error_message().find("idle") != std::string::npos);
  for (size_t i = 1; i < idle.size(); ++i) {
    idle[i]->stream->Read(&r);
    idle[i]->stream->Finish();
  }
  // A stream that sends works after the reaping, and a batch is answered on it.
  grpc::ClientContext ctx;
  Deadline(&ctx, 5000);
  auto live = stub->IngestStream(&ctx);
  v1::IngestRequest batch;
  *batch.add_events() = Ev("u3", "i3", 1002);
  REQUIRE(live->Write(batch));
  REQUIRE(live->Read(&r));
  CHECK(r.accepted() == 1);
  live->WritesDone();
  CHECK(live->Finish().ok());
  CHECK(server.Terminate() == 0);
}
