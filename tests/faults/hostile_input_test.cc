// Hostile producers against the real binary: ids that are not UTF-8 and events dated far in the future are
// INVALID_ARGUMENT naming the field and index, with nothing of the batch stored; segment closing goes on.
#include <ctime>

#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"
#include "tests/faults/server_child.h"

using namespace gpt4rec::faults;

TEST_CASE("ids that are not valid UTF-8: INVALID_ARGUMENT naming field and index, nothing stored") {
  gpt4rec::testing::TempDir dir("faults-utf8");
  ServerChild server;
  REQUIRE(server.Start(dir / "data"));
  auto stub = server.Connect();
  const std::string bad = "\xff\xfe-not-utf8";

  v1::IngestRequest req;
  *req.add_events() = Ev("u1", "i1", 1000);
  *req.add_events() = Ev("u2", "i2", 1001);
  *req.add_events() = Ev("u3", bad, 1002);
  v1::IngestReply rep;
  grpc::Status s = IngestBatch(stub.get(), req, &rep);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("events[2].item_id: not valid UTF-8") != std::string::npos);
  CHECK(Stats(stub.get()).events() == 0);

  // The same on a stream: it ends with the error; the batch before it stays stored.
  {
    grpc::ClientContext ctx;
    Deadline(&ctx, 10000);
    auto stream = stub->IngestStream(&ctx);
    v1::IngestRequest good;
    *good.add_events() = Ev("u1", "i1", 1000);
    REQUIRE(stream->Write(good));
    REQUIRE(stream->Read(&rep));
    v1::IngestRequest evil;
    *evil.add_events() = Ev(bad, "i1", 1000);
    stream->Write(evil);
    CHECK_FALSE(stream->Read(&rep));
    grpc::Status ended = stream->Finish();
    CHECK(ended.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(ended.error_message().find("events[0].user_id: not valid UTF-8") != std::string::npos);
  }
  CHECK(Stats(stub.get()).events() == 1);

  {
    grpc::ClientContext ctx;
    Deadline(&ctx, 10000);
    v1::RecommendRequest rec;
    rec.set_user_id(bad);
    v1::RecommendReply out;
    grpc::Status r = stub->Recommend(&ctx, rec, &out);
    CHECK(r.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(r.error_message().find("user_id: not valid UTF-8") != std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    Deadline(&ctx, 10000);
    v1::RecommendRequest rec;
    rec.set_user_id("u1");
    rec.add_exclude_item_ids("i1");
    rec.add_exclude_item_ids(bad);
    v1::RecommendReply out;
    grpc::Status r = stub->Recommend(&ctx, rec, &out);
    CHECK(r.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(r.error_message().find("exclude_item_ids[1]: not valid UTF-8") != std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    Deadline(&ctx, 10000);
    v1::DeleteUserRequest del;
    del.set_user_id(bad);
    v1::DeleteUserReply out;
    grpc::Status r = stub->DeleteUser(&ctx, del, &out);
    CHECK(r.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(r.error_message().find("user_id: not valid UTF-8") != std::string::npos);
  }
  CHECK(server.Terminate() == 0);
}

TEST_CASE("far-future event time: refused past --max_future_skew; day segments keep closing") {
  gpt4rec::testing::TempDir dir("faults-skew");
  ServerChild server;
  REQUIRE(server.Start(dir / "data", {"--segment=day", "--max_future_skew=3600"}));
  auto stub = server.Connect();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  constexpr int64_t kDay = 86400;
  const int64_t day0 = (now / kDay - 10) * kDay;  // ten days ago, midnight UTC

  v1::IngestRequest req;
  *req.add_events() = Ev("u1", "i1", day0 + 10);
  *req.add_events() = Ev("u2", "i2", now + 10LL * 365 * kDay);  // a producer's clock ten years ahead
  v1::IngestReply rep;
  grpc::Status s = IngestBatch(stub.get(), req, &rep);
  CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(s.error_message().find("events[1].timestamp") != std::string::npos);
  CHECK(s.error_message().find("future") != std::string::npos);
  CHECK(Stats(stub.get()).events() == 0);

  // Within the skew: accepted (a clock a few minutes ahead is normal).
  v1::IngestRequest near;
  *near.add_events() = Ev("u1", "i1", day0 + 10);
  *near.add_events() = Ev("u2", "i2", day0 + 20);
  REQUIRE(IngestBatch(stub.get(), near, &rep).ok());
  auto stats = Stats(stub.get());
  CHECK(stats.open_segment_start() == day0 + 10);
  CHECK(stats.open_segment_end() == day0 + 20);
  CHECK(stats.open_segment_events() == 2);
  // The next day's events close day 0 by event time, as without the hostile producer.
  v1::IngestRequest next;
  *next.add_events() = Ev("u1", "i2", day0 + kDay + 5);
  REQUIRE(IngestBatch(stub.get(), next, &rep).ok());
  CHECK(rep.closed_segments_size() == 1);
  stats = Stats(stub.get());
  CHECK(stats.closed_segments() == 1);
  CHECK(stats.open_segment_start() == day0 + kDay + 5);
  CHECK(server.Terminate() == 0);
}
