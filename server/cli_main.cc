// gpt4rec-cli: command-line client of gpt4rec-server.
//   ingest FILE        stream a CSV (user,item,timestamp[,type,weight]) or RecBole .inter file over IngestStream
//   recommend          top-k for a user          stats          counts, segments, model, last training
//   close-segment      close the open segment    delete-user    erase a user
//   snapshot           write a checkpoint dir    health         grpc.health.v1 Check
// `gpt4rec-cli <command> --help` documents each command's flags. Exit status: 0 ok, 1 RPC error, 2 usage/input.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/cli_input.h"

namespace {
namespace v1 = gpt4rec::v1;

struct Connection {
  std::string addr = "127.0.0.1:50051";
  std::string auth_token;
  std::string admin_token;
  bool tls = false;
  std::string tls_ca;           // PEM roots; empty: system roots
  std::string tls_server_name;  // override the name checked in the certificate
  double timeout_s = 30;
};

std::shared_ptr<grpc::Channel> MakeChannel(const Connection& c) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  if (!c.tls_server_name.empty()) args.SetSslTargetNameOverride(c.tls_server_name);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (c.tls || !c.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!c.tls_ca.empty()) {
      std::ifstream in(c.tls_ca);
      std::stringstream ss;
      ss << in.rdbuf();
      ssl.pem_root_certs = ss.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(c.addr, creds, args);
}

// A unix-seconds time as a person reads it: the UTC date (ISO 8601) and, in parentheses, the raw number for
// scripts: "2026-12-01T18:03:21Z (1796148201)".
std::string UtcTime(int64_t unix_seconds) {
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone()),
                      " (", unix_seconds, ")");
}

void Prepare(grpc::ClientContext* ctx, const Connection& c, bool admin, bool deadline = true) {
  const std::string& token = admin && !c.admin_token.empty() ? c.admin_token : c.auth_token;
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  if (deadline) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000)));
  }
}

int Fail(const grpc::Status& s) {
  std::fprintf(stderr, "gpt4rec-cli: %s: %s\n", absl::StrCat("code ", static_cast<int>(s.error_code())).c_str(),
               s.error_message().c_str());
  return 1;
}

const char* SourceName(v1::Source s) {
  switch (s) {
    case v1::MODEL: return "model";
    case v1::FOLD_IN: return "fold_in";
    case v1::POPULAR: return "popular";
    default: return "unspecified";
  }
}

// recommend --explain: what the list was built from and the view weights, above the items.
void PrintExplanationHeader(const v1::Explanation& e) {
  std::printf("built from: %s\n", e.built_from().c_str());
  if (e.fold_in_item_count() > 0) {
    std::printf("fold-in items (%d of %u, most recent first): %s\n", e.fold_in_item_ids_size(), e.fold_in_item_count(),
                absl::StrJoin(e.fold_in_item_ids(), ", ").c_str());
  }
  if (e.view_weights_size() > 0) {
    std::printf("view weights:");
    for (float w : e.view_weights()) std::printf(" %.3f", w);
    std::printf(e.view_weights_source() == v1::Explanation::VIEW_WEIGHTS_GAMMA
                    ? " (the view prompt's gamma)\n"
                    : " (uniform: gamma not available)\n");
  }
}

// After an item's line: "  because of i3 (41%), i7 (22%); views 0.5012 0.3111".
void PrintItemExplanation(const v1::ItemExplanation& item) {
  if (item.because_of_size() > 0) {
    std::printf("  because of");
    for (int c = 0; c < item.because_of_size(); ++c) {
      std::printf("%s %s (%.0f%%)", c == 0 ? "" : ",", item.because_of(c).item_id().c_str(),
                  100.0 * item.because_of(c).share());
    }
    std::printf(";");
  }
  if (item.view_scores_size() > 0) {
    std::printf("  views");
    for (float v : item.view_scores()) std::printf(" %.4f", v);
  }
}

void Progress(uint64_t done_bytes, uint64_t total_bytes, uint64_t acked, double seconds, bool final) {
  const double frac = total_bytes > 0 ? std::min(1.0, static_cast<double>(done_bytes) / total_bytes) : 0;
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r[%s%s] %5.1f%%  %llu events acked  %.0f events/s%s", std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), frac * 100, static_cast<unsigned long long>(acked),
               seconds > 0 ? acked / seconds : 0.0, final ? "\n" : "");
  std::fflush(stderr);
}

int Ingest(const Connection& c, const std::string& path, int batch_size, bool idempotent, bool quiet) {
  auto reader = gpt4rec::server::EventFileReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "gpt4rec-cli: %s\n", std::string(reader.status().message()).c_str());
    return 2;
  }
  auto stub = v1::Recommender::NewStub(MakeChannel(c));
  grpc::ClientContext ctx;
  Prepare(&ctx, c, false, /*deadline=*/false);
  auto stream = stub->IngestStream(&ctx);
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<uint64_t> acked{0}, duplicates{0}, sent_batches{0}, acked_batches{0};
  // Replies come back in order; a reader thread counts them so batches stay pipelined.
  std::thread replies([&] {
    v1::IngestReply reply;
    while (stream->Read(&reply)) {
      acked += reply.accepted();
      duplicates += reply.duplicates();
      ++acked_batches;
    }
  });
  const std::string base = std::filesystem::path(path).filename().string();
  v1::IngestRequest request;
  gpt4rec::server::InputEvent ev;
  int input_error = 0;
  auto last_report = t0;
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  for (;;) {
    auto more = (*reader)->Next(&ev);
    if (!more.ok()) {
      std::fprintf(stderr, "\ngpt4rec-cli: %s (the events before this line are sent, none after)\n",
                   std::string(more.status().message()).c_str());
      input_error = 2;
      if (request.events_size() > 0 && stream->Write(request)) ++sent_batches;
      break;
    }
    if (*more) {
      auto* e = request.add_events();
      e->set_user_id(ev.user_id);
      e->set_item_id(ev.item_id);
      e->set_timestamp(ev.timestamp);
      e->set_event_type(ev.event_type);
      e->set_weight(ev.weight);
      if (idempotent) e->set_event_id(absl::StrCat(base, ":", ev.line));
    }
    if (request.events_size() >= batch_size || (!*more && request.events_size() > 0)) {
      if (!stream->Write(request)) break;  // the server ended the stream; its status says why
      ++sent_batches;
      request.Clear();
    }
    if (!quiet && std::chrono::steady_clock::now() - last_report > std::chrono::milliseconds(200)) {
      Progress((*reader)->bytes_read(), (*reader)->file_bytes(), acked, seconds(), false);
      last_report = std::chrono::steady_clock::now();
    }
    if (!*more) break;
  }
  stream->WritesDone();
  replies.join();
  grpc::Status status = stream->Finish();
  if (!quiet) Progress((*reader)->bytes_read(), (*reader)->file_bytes(), acked, seconds(), true);
  std::printf("ingested %llu events (%llu duplicates) in %llu acknowledged batches, %.2f s\n",
              static_cast<unsigned long long>(acked.load()), static_cast<unsigned long long>(duplicates.load()),
              static_cast<unsigned long long>(acked_batches.load()), seconds());
  if (!status.ok()) return Fail(status);
  return input_error;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpt4rec-cli: client of gpt4rec-server (gpt4rec.v1.Recommender)"};
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  Connection c;
  app.add_option("--addr", c.addr, "server address host:port");
  app.add_option("--auth_token", c.auth_token, "sent as `authorization: Bearer <token>`")->envname("GPT4REC_AUTH_TOKEN");
  app.add_option("--admin_token", c.admin_token, "sent instead of --auth_token on admin commands")
      ->envname("GPT4REC_ADMIN_TOKEN");
  app.add_flag("--tls", c.tls, "connect with TLS (system roots unless --tls_ca)");
  app.add_option("--tls_ca", c.tls_ca, "PEM root certificates to trust (implies --tls)");
  app.add_option("--tls_server_name", c.tls_server_name, "expected name in the server certificate");
  app.add_option("--timeout_s", c.timeout_s, "deadline of each unary RPC");
  auto fallthrough = [](CLI::App* sub) { sub->fallthrough(); };

  std::string file;
  int batch_size = 5000;
  bool idempotent = false, quiet = false;
  auto* ingest = app.add_subcommand("ingest", "stream events from a CSV or RecBole .inter file");
  fallthrough(ingest);
  ingest->add_option("file", file, "CSV with header user,item,timestamp[,type,weight], or RecBole .inter")->required();
  ingest->add_option("--batch", batch_size, "events per IngestStream message")->check(CLI::Range(1, 1000000));
  ingest->add_flag("--idempotent", idempotent, "send event_id = <file name>:<line>, so re-running skips stored events");
  ingest->add_flag("--quiet", quiet, "no progress bar");

  std::string user;
  uint32_t k = 20;
  std::string exclude;
  bool include_seen = false, explain = false;
  auto* recommend = app.add_subcommand("recommend", "top-k items for a user");
  fallthrough(recommend);
  recommend->add_option("--user", user, "external user id")->required();
  recommend->add_option("--k", k, "number of items");
  recommend->add_option("--exclude", exclude, "comma-separated item ids never to return");
  recommend->add_flag("--include_seen", include_seen, "allow items the user already interacted with");
  recommend->add_flag("--explain", explain, "also print why: the seen items behind each item, view weights, what the list was built from");

  auto* stats = app.add_subcommand("stats", "counts, segments, model version, last training");
  fallthrough(stats);
  auto* close = app.add_subcommand("close-segment", "close the open segment and queue it for training (admin)");
  fallthrough(close);
  auto* del = app.add_subcommand("delete-user", "erase a user from graph and serving tables (admin)");
  fallthrough(del);
  del->add_option("--user", user, "external user id")->required();
  std::string dir;
  auto* snapshot = app.add_subcommand("snapshot", "write store + model checkpoint to a directory (admin)");
  fallthrough(snapshot);
  snapshot->add_option("--dir", dir, "directory on the server's machine (must not exist; empty: server default)");
  std::string service;
  auto* health = app.add_subcommand("health", "grpc.health.v1 Check; exit 0 only when SERVING");
  fallthrough(health);
  health->add_option("--service", service, "service name (empty: whole server)");

  CLI11_PARSE(app, argc, argv);

  if (*ingest) return Ingest(c, file, batch_size, idempotent, quiet);

  if (*health) {
    auto stub = grpc::health::v1::Health::NewStub(MakeChannel(c));
    grpc::ClientContext ctx;
    Prepare(&ctx, c, false);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse rep;
    grpc::Status s = stub->Check(&ctx, req, &rep);
    if (!s.ok()) return Fail(s);
    std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(rep.status()).c_str());
    return rep.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
  }

  auto stub = v1::Recommender::NewStub(MakeChannel(c));
  grpc::ClientContext ctx;
  if (*recommend) {
    Prepare(&ctx, c, false);
    v1::RecommendRequest req;
    req.set_user_id(user);
    req.set_k(k);
    req.set_include_seen(include_seen);
    req.set_explain(explain);
    if (!exclude.empty()) {
      for (auto id : absl::StrSplit(exclude, ',')) req.add_exclude_item_ids(std::string(id));
    }
    v1::RecommendReply rep;
    grpc::Status s = stub->Recommend(&ctx, req, &rep);
    if (!s.ok()) return Fail(s);
    std::printf("user %s: %d items, model_version %llu, source %s\n", user.c_str(), rep.items_size(),
                static_cast<unsigned long long>(rep.model_version()), SourceName(rep.source()));
    if (explain) PrintExplanationHeader(rep.explanation());
    for (int i = 0; i < rep.items_size(); ++i) {
      std::printf("%4d  %-24s %10.4f", i + 1, rep.items(i).item_id().c_str(), rep.items(i).score());
      if (explain && i < rep.explanation().items_size()) PrintItemExplanation(rep.explanation().items(i));
      std::printf("\n");
    }
    return 0;
  }
  if (*stats) {
    Prepare(&ctx, c, false);
    v1::GetStatsReply rep;
    grpc::Status s = stub->GetStats(&ctx, v1::GetStatsRequest(), &rep);
    if (!s.ok()) return Fail(s);
    std::printf("users %llu  items %llu  edges %llu  events %llu\n", (unsigned long long)rep.users(),
                (unsigned long long)rep.items(), (unsigned long long)rep.edges(), (unsigned long long)rep.events());
    if (rep.open_segment_events() == 0) {
      std::printf("open segment %u (empty), closed segments %u\n", rep.open_segment(), rep.closed_segments());
    } else {
      std::printf("open segment %u (%llu events, %s to %s), closed segments %u\n", rep.open_segment(),
                  (unsigned long long)rep.open_segment_events(), UtcTime(rep.open_segment_start()).c_str(),
                  UtcTime(rep.open_segment_end()).c_str(), rep.closed_segments());
    }
    std::printf("model version %llu, training queue %u%s\n", (unsigned long long)rep.model_version(),
                rep.training_queue(), rep.training_now() ? " (training now)" : "");
    if (!rep.training_error().empty()) std::printf("training paused: %s\n", rep.training_error().c_str());
    if (rep.role() == "leader" || rep.role() == "follower") {
      std::printf("cluster %s (%llu trainings here): applied log entry %llu of %llu (lag %llu), NATS %s\n",
                  rep.role().c_str(), (unsigned long long)rep.trainings(), (unsigned long long)rep.applied_sequence(),
                  (unsigned long long)rep.log_last_sequence(),
                  (unsigned long long)rep.log_lag(), rep.log_connected() ? "connected" : "disconnected");
    }
    if (rep.has_last_training()) {
      const auto& t = rep.last_training();
      std::printf("last training: segment %u -> version %llu, %s, %u epochs, loss %.4f, valid Recall@20 %.4f, "
                  "%.1f s, finished at %s\n",
                  t.segment(), (unsigned long long)t.model_version(), t.mode().c_str(), t.epochs(), t.final_loss(),
                  t.valid_recall20(), t.seconds(), UtcTime(t.finished_at()).c_str());
    }
    if (rep.online().events() > 0) {
      const auto& o = rep.online();
      std::printf("online hit rate: %llu events of recently served users, hit@10 %.4f (%llu), hit@20 %.4f (%llu); "
                  "%llu lists held\n",
                  (unsigned long long)o.events(), o.hit_rate_at_10(), (unsigned long long)o.hits_at_10(),
                  o.hit_rate_at_20(), (unsigned long long)o.hits_at_20(),
                  (unsigned long long)rep.online_tracked_users());
      for (const auto& v : rep.online_by_version()) {
        if (v.events() == 0) continue;
        std::printf("  lists of version %llu: %llu events, hit@10 %.4f, hit@20 %.4f\n",
                    (unsigned long long)v.model_version(), (unsigned long long)v.events(), v.hit_rate_at_10(),
                    v.hit_rate_at_20());
      }
    }
    return 0;
  }
  if (*close) {
    Prepare(&ctx, c, true);
    v1::CloseSegmentReply rep;
    grpc::Status s = stub->CloseSegment(&ctx, v1::CloseSegmentRequest(), &rep);
    if (!s.ok()) return Fail(s);
    std::printf("closed segment %u (%llu events); queued for training\n", rep.closed_segment(),
                (unsigned long long)rep.events());
    return 0;
  }
  if (*del) {
    Prepare(&ctx, c, true);
    v1::DeleteUserRequest req;
    req.set_user_id(user);
    v1::DeleteUserReply rep;
    grpc::Status s = stub->DeleteUser(&ctx, req, &rep);
    if (!s.ok()) return Fail(s);
    std::printf(rep.deleted() ? "deleted %s (%llu edges removed)\n" : "%s: unknown user, nothing deleted\n",
                user.c_str(), (unsigned long long)rep.edges_removed());
    return 0;
  }
  if (*snapshot) {
    Prepare(&ctx, c, true);
    v1::SnapshotRequest req;
    req.set_dir(dir);
    v1::SnapshotReply rep;
    grpc::Status s = stub->Snapshot(&ctx, req, &rep);
    if (!s.ok()) return Fail(s);
    std::printf("snapshot %s (%llu events, model version %llu)\n", rep.dir().c_str(), (unsigned long long)rep.events(),
                (unsigned long long)rep.model_version());
    return 0;
  }
  return 2;
}
