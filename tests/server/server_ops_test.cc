// Operations: overload, restart recovery, health, metrics, DeleteUser and Snapshot.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "model/recommender_model.h"
#include "tests/common/http_get.h"
#include "tests/common/temp_dir.h"
#include "server/serving_file.h"
#include "server/test_support.h"
#include "tests/server/server_fixture.h"

using namespace gpt4rec::testing;
using gpt4rec::server::Server;
using gpt4rec::server::ServerOptions;

namespace {

v1::IngestRequest Batch(int n, const std::string& prefix) {
  v1::IngestRequest req;
  for (int i = 0; i < n; ++i) {
    *req.add_events() = MakeEvent(prefix + "u" + std::to_string(i % 97), "i" + std::to_string(i % 501), 100 + i);
  }
  return req;
}

// Segment 0 of the community graph (20 users per community, 15 items, 6 events each), trained.
void IngestAndTrainSegment0(Server& server, v1::Recommender::Stub* stub) {
  v1::IngestReply ing;
  REQUIRE(Ingest(stub, CommunityEvents(20, 15, 6, 1000), &ing).ok());
  v1::CloseSegmentReply close;
  REQUIRE(CloseSegment(stub, &close).ok());
  REQUIRE(gpt4rec::server::test_support::WaitForTrainingIdle(server, 120000));
}

}  // namespace

TEST_CASE("overload: RESOURCE_EXHAUSTED past the in-flight bound and size limits; nothing partial") {
  TempDir dir("server-overload");
  auto options = SmallServerOptions(dir / "data");
  options.max_inflight_ingest = 1;
  options.max_events_per_request = 2000;
  options.max_message_bytes = 1 << 19;
  auto server = StartServer(options);
  auto stub = Connect(server->port());

  SECTION("too many events in one request") {
    v1::IngestReply rep;
    grpc::Status s = Ingest(stub.get(), Batch(2001, "x"), &rep);
    CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(s.error_message().find("max_events_per_request") != std::string::npos);
    CHECK(Stats(stub.get()).events() == 0);
  }
  SECTION("message larger than --max_message_bytes") {
    v1::IngestRequest req;
    *req.add_events() = MakeEvent("u", "i", 1, std::string(200, 'e'));
    req.mutable_events(0)->set_user_id(std::string(256, 'u'));
    for (int i = 0; i < 1999; ++i) *req.add_events() = req.events(0);
    REQUIRE(req.ByteSizeLong() > (1u << 19));
    v1::IngestReply rep;
    CHECK(Ingest(stub.get(), req, &rep).error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(Stats(stub.get()).events() == 0);
  }
  SECTION("concurrent batches beyond --max_inflight_ingest=1") {
    std::atomic<int> ok{0}, exhausted{0}, other{0};
    std::atomic<uint64_t> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto own = Connect(server->port());
        for (int r = 0; r < 6; ++r) {
          v1::IngestReply rep;
          grpc::Status s = Ingest(own.get(), Batch(2000, "t" + std::to_string(t) + "r" + std::to_string(r)), &rep);
          if (s.ok()) {
            ++ok;
            accepted += rep.accepted();
          } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            ++exhausted;
          } else {
            ++other;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(other == 0);
    CHECK(ok >= 1);
    CHECK(exhausted >= 1);
    // Rejected batches wrote nothing: the store holds exactly the acknowledged events.
    CHECK(Stats(stub.get()).events() == accepted.load());
    CHECK(accepted.load() == static_cast<uint64_t>(ok.load()) * 2000);
  }
  SECTION("concurrent IngestStreams beyond --max_inflight_ingest=1: refused streams end, none hangs") {
    std::atomic<int> ended_exhausted{0}, other{0};
    std::atomic<uint64_t> acked{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto own = Connect(server->port());
        grpc::ClientContext ctx;
        WithDeadline(&ctx, 60000);
        auto stream = own->IngestStream(&ctx);
        std::thread reader([&] {
          v1::IngestReply rep;
          while (stream->Read(&rep)) acked += rep.accepted();
        });
        for (int r = 0; r < 6; ++r) {
          if (!stream->Write(Batch(2000, "s" + std::to_string(t) + "r" + std::to_string(r)))) break;
        }
        stream->WritesDone();
        reader.join();
        grpc::Status s = stream->Finish();
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++ended_exhausted;
        else if (!s.ok()) ++other;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(other == 0);
    CHECK(ended_exhausted >= 1);
    CHECK(Stats(stub.get()).events() == acked.load());
  }
}

TEST_CASE("overload: Recommend beyond --max_pending_recommend gets RESOURCE_EXHAUSTED") {
  TempDir dir("server-rec-overload");
  auto options = SmallServerOptions(dir / "data");
  options.scoring_threads = 1;
  options.max_batch = 1;
  options.max_pending_recommend = 1;
  auto server = StartServer(options);
  auto stub = Connect(server->port());
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), Batch(10, "r"), &ing).ok());
  // A large synthetic item matrix makes each scoring pass take a while.
  gpt4rec::server::test_support::SyntheticModel model;
  model.dim = 64;
  model.num_users = 97;
  model.num_items = 300000;
  model.users.assign(static_cast<size_t>(model.num_users) * model.dim, 0.5f);
  model.items.resize(static_cast<size_t>(model.num_items) * model.dim);
  for (size_t i = 0; i < model.items.size(); ++i) model.items[i] = static_cast<float>(i % 13) * 0.1f;
  REQUIRE(gpt4rec::server::test_support::InstallModel(*server, model, 7).ok());
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      auto own = Connect(server->port());
      for (int i = 0; i < 10; ++i) {
        v1::RecommendReply rep;
        grpc::Status s = Recommend(own.get(), "ru1", 5, &rep);
        if (s.ok() && rep.model_version() == 7) ++ok;
        else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
        else ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(other == 0);
  CHECK(ok >= 1);
  CHECK(exhausted >= 1);
}

TEST_CASE("restart recovers data and the last model at once; snapshot restores; delete erases") {
  TempDir dir("server-restart");
  const std::string data = dir / "data";
  v1::RecommendReply before;
  uint64_t events = 0;
  {
    auto server = StartServer(SmallServerOptions(data));
    auto stub = Connect(server->port());
    IngestAndTrainSegment0(*server, stub.get());
    v1::IngestReply ing;
    REQUIRE(Ingest(stub.get(), CommunityEvents(3, 15, 2, 8000, 5), &ing).ok());  // open segment 1
    REQUIRE(Recommend(stub.get(), "a4", 10, &before).ok());
    REQUIRE(before.source() == v1::MODEL);
    events = Stats(stub.get()).events();
    server->Shutdown();
  }
  {
    auto server = StartServer(SmallServerOptions(data));
    auto stub = Connect(server->port());
    auto stats = Stats(stub.get());
    CHECK(stats.events() == events);
    CHECK(stats.model_version() == 1);
    CHECK(stats.closed_segments() == 1);
    CHECK(stats.open_segment() == 1);
    CHECK(stats.training_queue() == 0);
    CHECK(stats.last_training().model_version() == 1);
    v1::RecommendReply after;
    REQUIRE(Recommend(stub.get(), "a4", 10, &after).ok());
    CHECK(after.source() == v1::MODEL);
    CHECK(after.model_version() == 1);
    CHECK(ItemIds(after) == ItemIds(before));

    // The restored model keeps training: segment 1 is prompt-tuned on top of the checkpoint.
    v1::CloseSegmentReply close;
    REQUIRE(CloseSegment(stub.get(), &close).ok());
    CHECK(close.closed_segment() == 1);
    REQUIRE(gpt4rec::server::test_support::WaitForTrainingIdle(*server, 120000));
    CHECK(Stats(stub.get()).model_version() == 2);

    // Snapshot, then delete a user; the snapshot still has them, the live server does not.
    grpc::ClientContext sctx;
    v1::SnapshotRequest sreq;
    sreq.set_dir(dir / "snap");
    v1::SnapshotReply snap;
    REQUIRE(stub->Snapshot(&sctx, sreq, &snap).ok());
    CHECK(snap.dir() == dir / "snap");
    CHECK(snap.model_version() == 2);
    CHECK(snap.events() == events);
    CHECK(std::filesystem::exists(dir / "snap/graph"));
    CHECK(std::filesystem::exists(dir / "snap/model/serving.bin"));
    grpc::ClientContext again;
    CHECK(stub->Snapshot(&again, sreq, &snap).error_code() == grpc::StatusCode::ALREADY_EXISTS);

    const std::string checkpoint = data + "/model/model.ckpt";
    auto users_in_checkpoint = [&] {
      auto model = gpt4rec::model::RecommenderModel::Load(checkpoint);
      REQUIRE(model.ok());
      auto e = (*model)->ExportEmbeddings();
      REQUIRE(e.ok());
      return *e;
    };
    const auto kept = users_in_checkpoint();

    v1::DeleteUserReply del;
    REQUIRE(DeleteUser(stub.get(), "a4", &del).ok());
    CHECK(del.deleted());
    CHECK(del.edges_removed() == 5);  // a4's 6 events touch 5 distinct items
    v1::RecommendReply gone;
    REQUIRE(Recommend(stub.get(), "a4", 10, &gone).ok());
    CHECK(gone.source() == v1::POPULAR);
    REQUIRE(DeleteUser(stub.get(), "a4", &del).ok());
    CHECK_FALSE(del.deleted());

    // The checkpoint was rewritten with a4's rows zeroed: exactly one user row changed, to all zeros, and the
    // next checkpoint (segment 2's training) still holds zeros there.
    auto erased_rows = [&](const gpt4rec::model::Embeddings& now) {
      REQUIRE(now.num_users == kept.num_users);
      std::vector<int32_t> rows;
      for (int32_t u = 0; u < now.num_users; ++u) {
        const float* a = kept.users.data() + static_cast<size_t>(u) * kept.dim;
        const float* b = now.users.data() + static_cast<size_t>(u) * now.dim;
        if (std::equal(a, a + kept.dim, b)) continue;
        CHECK(std::all_of(b, b + now.dim, [](float x) { return x == 0.0f; }));
        CHECK(std::any_of(a, a + kept.dim, [](float x) { return x != 0.0f; }));
        rows.push_back(u);
      }
      return rows;
    };
    const auto after_delete = users_in_checkpoint();
    const auto erased = erased_rows(after_delete);
    REQUIRE(erased.size() == 1);
    // Their view weights γ too: zero in the checkpoint and in serving.bin (with their serving row).
    auto zero_gamma = [&](const std::vector<float>& gamma, int32_t views) {
      REQUIRE(views > 0);
      REQUIRE(gamma.size() >= static_cast<size_t>(erased[0] + 1) * views);
      return std::all_of(gamma.begin() + erased[0] * views, gamma.begin() + (erased[0] + 1) * views,
                         [](float x) { return x == 0.0f; });
    };
    CHECK(zero_gamma(after_delete.user_view_weights, after_delete.views));
    {
      auto file = gpt4rec::server::ReadServingFile(data + "/model/serving.bin");
      REQUIRE(file.ok());
      CHECK(zero_gamma(file->user_view_weights, file->views));
      const float* row = file->users.data() + static_cast<size_t>(erased[0]) * file->dim;
      CHECK(std::all_of(row, row + file->dim, [](float x) { return x == 0.0f; }));
    }
    v1::IngestReply ing;
    REQUIRE(Ingest(stub.get(), CommunityEvents(3, 15, 2, 9000, 7), &ing).ok());
    REQUIRE(CloseSegment(stub.get(), &close).ok());
    REQUIRE(gpt4rec::server::test_support::WaitForTrainingIdle(*server, 120000));
    CHECK(Stats(stub.get()).model_version() == 3);
    auto next = users_in_checkpoint();
    const float* row = next.users.data() + static_cast<size_t>(erased[0]) * next.dim;
    CHECK(std::all_of(row, row + next.dim, [](float x) { return x == 0.0f; }));
    CHECK(zero_gamma(next.user_view_weights, next.views));
    const float* other = next.users.data() + static_cast<size_t>(erased[0] == 0 ? 1 : 0) * next.dim;
    CHECK(std::any_of(other, other + next.dim, [](float x) { return x != 0.0f; }));
    server->Shutdown();
  }
  {
    auto server = StartServer(SmallServerOptions(dir / "snap"));
    auto stub = Connect(server->port());
    auto stats = Stats(stub.get());
    CHECK(stats.events() == events);
    CHECK(stats.model_version() == 2);
    v1::RecommendReply r;
    REQUIRE(Recommend(stub.get(), "a4", 10, &r).ok());
    CHECK(r.source() == v1::MODEL);
  }
}

TEST_CASE("health reports SERVING, metrics are exposed") {
  TempDir dir("server-health");
  auto options = SmallServerOptions(dir / "data");
  options.metrics_port = 0;
  auto server = StartServer(options);
  REQUIRE(server->metrics_port() > 0);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* service : {"", "gpt4rec.v1.Recommender"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse rep;
    REQUIRE(health->Check(&ctx, req, &rep).ok());
    CHECK(rep.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  }
  auto stub = Connect(server->port());
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), Batch(10, "m"), &ing).ok());
  v1::RecommendReply rec;
  REQUIRE(Recommend(stub.get(), "mu1", 5, &rec).ok());
  const std::string metrics = HttpGet(server->metrics_port(), "/metrics");
  CHECK(metrics.find("gpt4rec_ingest_events_total 10") != std::string::npos);
  CHECK(metrics.find("gpt4rec_recommend_seconds_count 1") != std::string::npos);
  CHECK(metrics.find("gpt4rec_model_version 0") != std::string::npos);
  CHECK(metrics.find("gpt4rec_training_queue") != std::string::npos);
  server->Shutdown();
}

TEST_CASE("TLS: --tls_cert/--tls_key serve TLS; plaintext clients cannot talk to it") {
  TempDir dir("server-tls");
  auto options = SmallServerOptions(dir / "data");
  options.tls_cert = GPT4REC_TESTDATA "/localhost.crt";
  options.tls_key = GPT4REC_TESTDATA "/localhost.key";
  auto server = StartServer(options);
  std::ifstream in(options.tls_cert);
  std::stringstream pem;
  pem << in.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem.str();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto tls = v1::Recommender::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::SslCredentials(ssl), args));
  v1::IngestReply ing;
  {
    grpc::ClientContext ctx;
    WithDeadline(&ctx);
    v1::IngestRequest req;
    *req.add_events() = MakeEvent("u", "i", 1);
    REQUIRE(tls->Ingest(&ctx, req, &ing).ok());
  }
  CHECK(Stats(tls.get()).events() == 1);
  auto plain = Connect(server->port());
  grpc::ClientContext ctx;
  WithDeadline(&ctx, 2000);
  v1::GetStatsReply rep;
  CHECK_FALSE(plain->GetStats(&ctx, v1::GetStatsRequest(), &rep).ok());
}

// DeleteUser removes the user from the store (durable) first and rewrites model.ckpt and serving.bin after; a
// process killed between the two restarts with files that still hold the user's row. Simulated by putting the
// files from before the delete back while the server is down; start-up must zero that row (and only that row) in
// both files, with or without a serving file beside the checkpoint, and write nothing when nothing is left.
TEST_CASE("restart after a kill during DeleteUser's rewrite: start-up erases the deleted user's rows") {
  for (const bool with_serving_file : {true, false}) {
    CAPTURE(with_serving_file);
    TempDir dir("server-erase-restart");
    const std::string data = dir / "data";
    const std::string checkpoint = data + "/model/model.ckpt";
    const std::string serving = data + "/model/serving.bin";
    {
      auto server = StartServer(SmallServerOptions(data));
      auto stub = Connect(server->port());
      IngestAndTrainSegment0(*server, stub.get());
      std::filesystem::copy_file(checkpoint, dir / "old.ckpt");
      std::filesystem::copy_file(serving, dir / "old.bin");
      v1::DeleteUserReply del;
      REQUIRE(DeleteUser(stub.get(), "a4", &del).ok());
      REQUIRE(del.deleted());
      server->Shutdown();
    }
    // The kill: the store has the delete, the model files do not.
    std::filesystem::copy_file(dir / "old.ckpt", checkpoint, std::filesystem::copy_options::overwrite_existing);
    if (with_serving_file) {
      std::filesystem::copy_file(dir / "old.bin", serving, std::filesystem::copy_options::overwrite_existing);
    } else {
      std::filesystem::remove(serving);
    }
    auto old_model = gpt4rec::model::RecommenderModel::Load(dir / "old.ckpt");
    REQUIRE(old_model.ok());
    const auto kept = (*old_model)->ExportEmbeddings();
    REQUIRE(kept.ok());
    auto changed_rows = [&](const std::vector<float>& now, int32_t num_users, int32_t dim) {
      REQUIRE(num_users == kept->num_users);
      REQUIRE(dim == kept->dim);
      std::vector<int32_t> rows;
      for (int32_t u = 0; u < num_users; ++u) {
        const float* a = kept->users.data() + static_cast<size_t>(u) * dim;
        const float* b = now.data() + static_cast<size_t>(u) * dim;
        if (std::equal(a, a + dim, b)) continue;
        CHECK(std::all_of(b, b + dim, [](float x) { return x == 0.0f; }));
        rows.push_back(u);
      }
      return rows;
    };
    auto read_bytes = [](const std::string& path) {
      std::ifstream in(path, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::string ckpt_bytes, serving_bytes;
    for (int start = 0; start < 2; ++start) {
      CAPTURE(start);
      auto server = StartServer(SmallServerOptions(data));
      auto stub = Connect(server->port());
      CHECK(Stats(stub.get()).model_version() == 1);
      v1::RecommendReply gone;
      REQUIRE(Recommend(stub.get(), "a4", 10, &gone).ok());
      CHECK(gone.source() == v1::POPULAR);
      v1::RecommendReply other;
      REQUIRE(Recommend(stub.get(), "a5", 10, &other).ok());
      CHECK(other.source() == v1::MODEL);
      server->Shutdown();

      auto model = gpt4rec::model::RecommenderModel::Load(checkpoint);
      REQUIRE(model.ok());
      auto now = (*model)->ExportEmbeddings();
      REQUIRE(now.ok());
      const auto in_checkpoint = changed_rows(now->users, now->num_users, now->dim);
      REQUIRE(in_checkpoint.size() == 1);
      const int32_t u = in_checkpoint[0];
      CHECK(std::all_of(now->user_view_weights.begin() + u * now->views,
                        now->user_view_weights.begin() + (u + 1) * now->views, [](float x) { return x == 0.0f; }));
      // Without a serving file the server serves a re-export of the (erased) checkpoint and writes the file at
      // its next training.
      CHECK(std::filesystem::exists(serving) == with_serving_file);
      if (with_serving_file) {
        auto file = gpt4rec::server::ReadServingFile(serving);
        REQUIRE(file.ok());
        CHECK(changed_rows(file->users, file->num_users, file->dim) == in_checkpoint);
      }
      if (start == 0) {
        ckpt_bytes = read_bytes(checkpoint);
        serving_bytes = read_bytes(serving);
      } else {  // nothing left to erase: the second start rewrites neither file
        CHECK(read_bytes(checkpoint) == ckpt_bytes);
        CHECK(read_bytes(serving) == serving_bytes);
      }
    }
  }
}
