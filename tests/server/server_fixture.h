// Helpers for the server tests: a real Server on 127.0.0.1 (port 0) over a real data directory, gRPC stubs,
// and a small two-community interaction data set.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service.h"

namespace gpt4rec::testing {

namespace v1 = gpt4rec::v1;

// Waits until `condition()` holds (true) or `timeout` passes (false), checking every few milliseconds: what the
// server does in the background (refreshes, swaps) is observable only through its replies.
template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A model small enough to train in well under a second per segment.
inline server::ServerOptions SmallServerOptions(const std::string& data_dir) {
  server::ServerOptions o;
  o.addr = "127.0.0.1:0";
  o.metrics_port = -1;
  o.data_dir = data_dir;
  o.segment = "manual";
  o.scoring_threads = 2;
  o.refresh_ms = 50;
  auto& m = o.model;
  m.dim = 16;
  m.views = 2;
  m.node_prompts = 2;
  m.structure_prompts = 2;
  m.layers = 2;
  m.batch_size = 256;
  m.lr = 0.01f;
  m.prompt_lr = 0.01f;
  m.max_epochs = 4;
  m.min_epochs = 2;
  m.patience = 1;
  m.threads = 1;
  return o;
}

inline std::unique_ptr<server::Server> StartServer(const server::ServerOptions& options) {
  auto server = server::Server::Start(options);
  if (!server.ok()) throw std::runtime_error("Server::Start: " + server.status().ToString());
  return std::move(*server);
}

inline std::unique_ptr<v1::Recommender::Stub> Connect(int port) {
  return v1::Recommender::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

inline void WithDeadline(grpc::ClientContext* ctx, int ms = 10000) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

inline v1::Event MakeEvent(const std::string& user, const std::string& item, int64_t ts,
                           const std::string& event_id = "") {
  v1::Event e;
  e.set_user_id(user);
  e.set_item_id(item);
  e.set_timestamp(ts);
  e.set_event_id(event_id);
  return e;
}

// Two communities: users a0..a{n-1} interact only with items A0..A{m-1}, users b* only with B*. Each user
// touches `per_user` items of their community, chosen deterministically and differently per user.
inline v1::IngestRequest CommunityEvents(int users_per_side, int items_per_side, int per_user, int64_t ts0,
                                         int salt = 0) {
  v1::IngestRequest req;
  for (int side = 0; side < 2; ++side) {
    const std::string up = side == 0 ? "a" : "b";
    const std::string ip = side == 0 ? "A" : "B";
    for (int u = 0; u < users_per_side; ++u) {
      for (int j = 0; j < per_user; ++j) {
        const int item = (u * 7 + j * 3 + salt) % items_per_side;
        *req.add_events() = MakeEvent(up + std::to_string(u), ip + std::to_string(item), ts0 + u * 10 + j);
      }
    }
  }
  return req;
}

inline v1::GetStatsReply Stats(v1::Recommender::Stub* stub) {
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  v1::GetStatsReply rep;
  grpc::Status s = stub->GetStats(&ctx, v1::GetStatsRequest(), &rep);
  if (!s.ok()) throw std::runtime_error("GetStats: " + s.error_message());
  return rep;
}

inline grpc::Status Recommend(v1::Recommender::Stub* stub, const std::string& user, uint32_t k,
                              v1::RecommendReply* rep, bool include_seen = false) {
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  v1::RecommendRequest req;
  req.set_user_id(user);
  req.set_k(k);
  req.set_include_seen(include_seen);
  return stub->Recommend(&ctx, req, rep);
}

inline grpc::Status Ingest(v1::Recommender::Stub* stub, const v1::IngestRequest& req, v1::IngestReply* rep) {
  grpc::ClientContext ctx;
  WithDeadline(&ctx, 30000);
  return stub->Ingest(&ctx, req, rep);
}

inline grpc::Status CloseSegment(v1::Recommender::Stub* stub, v1::CloseSegmentReply* rep,
                                 const std::string& token = "") {
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  return stub->CloseSegment(&ctx, v1::CloseSegmentRequest(), rep);
}

// DeleteUser compacts the whole store: a generous deadline.
inline grpc::Status DeleteUser(v1::Recommender::Stub* stub, const std::string& user_id, v1::DeleteUserReply* rep) {
  grpc::ClientContext ctx;
  WithDeadline(&ctx, 60000);
  v1::DeleteUserRequest req;
  req.set_user_id(user_id);
  return stub->DeleteUser(&ctx, req, rep);
}

inline std::vector<std::string> ItemIds(const v1::RecommendReply& rep) {
  std::vector<std::string> ids;
  for (const auto& i : rep.items()) ids.push_back(i.item_id());
  return ids;
}

}  // namespace gpt4rec::testing
