// The dashboard on the metrics port: the page at / (server/dashboard/index.html, embedded in the binary at build
// time) and the JSON it reads, next to /metrics:
//   /api/overview         counts, segments with their sizes, model version, trainer state, online hit rate
//   /api/models           the model version history: one entry per training (epochs, loss, validation Recall@20)
//   /api/series           samples every kSampleSeconds of the counters the rates and the hit-rate chart need
//   /api/user?id=U[&k=N]  a user's most recent items and their recommendations with explanations
// /api/user shows what a user did, so with --auth_token it needs `Authorization: Bearer <auth or admin token>`
// (the page sends the token given in its URL fragment, #token=...); the other endpoints show aggregates only, as
// /metrics does. Looking at a user is not serving them: the online hit rate does not count it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "nlohmann/json.hpp"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/service.h"

namespace gpt4rec::server {

class Engine;

class DashboardApi {
 public:
  static constexpr int kSampleSeconds = 5;
  static constexpr size_t kSamplesKept = 720;  // an hour

  DashboardApi(const ServerOptions& options, Metrics* metrics);
  ~DashboardApi();

  // The engine once it is open; nullptr before it stops (waits for requests using it to finish). Until then the
  // JSON endpoints answer 503.
  void SetEngine(Engine* engine);
  // The metrics server's handler.
  bool Handle(const HttpRequest& request, HttpResponse* response);

 private:
  struct Sample {
    int64_t unix_ms = 0;
    uint64_t events = 0;           // stored events (GetStats.events)
    uint64_t recommendations = 0;  // Recommend replies, every source
    uint64_t online_events = 0, online_hits_at_10 = 0, online_hits_at_20 = 0;
  };
  void SampleLoop();
  void TakeSample(Engine& engine);
  nlohmann::json Overview(Engine& engine) const;
  nlohmann::json Models(Engine& engine) const;
  nlohmann::json Series() const;
  // false: `response` holds the error (400 naming the parameter, 401).
  bool User(Engine& engine, const HttpRequest& request, HttpResponse* response) const;

  const ServerOptions options_;
  Metrics* const metrics_;
  std::shared_mutex engine_mu_;  // shared while a request or a sample uses engine_
  Engine* engine_ = nullptr;

  mutable std::mutex samples_mu_;
  std::deque<Sample> samples_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread sampler_;
};

}  // namespace gpt4rec::server
