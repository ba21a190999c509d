// MicroBatcher under a standing overload (more offered than it can score, for longer than --max_queue_ms)
// scores the newest requests first: accepted requests then wait about a pass, not about the bound, as they did
// when the queue was served oldest first (every accepted request had waited nearly the whole bound). Below
// capacity the order never switches. Times are relative to the pass measured here, so a slow or loaded machine
// shifts both sides alike.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "server/micro_batcher.h"

using Clock = std::chrono::steady_clock;
namespace server = gpt4rec::server;

namespace {

std::shared_ptr<server::ItemTable> Table() {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  const int n = 100000, dim = 64;  // one pass: about a millisecond (more on a loaded machine)
  std::vector<float> rows(static_cast<size_t>(n) * dim);
  for (auto& x : rows) x = normal(rng);
  auto table = std::make_shared<server::ItemTable>();
  table->dim = dim;
  table->packed = server::PackItems(rows.data(), n, dim);
  return table;
}

struct Load {
  int accepted = 0, shed = 0, other = 0;
  std::vector<double> accepted_ms;  // submit to reply
  uint64_t lifo_batches = 0;
};

// One worker, one request per pass; offers `factor` x its measured capacity, open loop, for `seconds`.
Load Offer(int max_queue_ms, double factor, double seconds, double* pass_ms) {
  const auto table = Table();
  server::MicroBatcherOptions options;
  options.threads = 1;
  options.max_batch = 1;
  options.max_pending = 1000000;
  options.max_queue_ms = max_queue_ms;
  server::MicroBatcher batcher(options);
  const std::vector<float> query(64, 0.1f);
  for (int i = 0; i < 5; ++i) REQUIRE(batcher.TopK(table, query, 10, {}).ok());  // warm-up, cost fitted
  const auto c0 = Clock::now();
  constexpr int kTimed = 50;
  for (int i = 0; i < kTimed; ++i) REQUIRE(batcher.TopK(table, query, 10, {}).ok());
  *pass_ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count() / kTimed;

  std::mutex mu;
  std::condition_variable cv;
  Load load;
  int sent = 0, finished = 0;
  const auto gap = std::chrono::duration<double, std::milli>(*pass_ms / factor);
  const auto start = Clock::now();
  auto next = start;
  while (Clock::now() < start + std::chrono::duration<double>(seconds)) {
    const auto submitted = Clock::now();
    ++sent;
    batcher.Submit(table, query, 10, {}, [&, submitted](absl::StatusOr<std::vector<server::Scored>> result) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
      std::lock_guard<std::mutex> lock(mu);
      if (result.ok()) {
        ++load.accepted;
        load.accepted_ms.push_back(ms);
      } else if (absl::IsResourceExhausted(result.status())) {
        ++load.shed;
      } else {
        ++load.other;
      }
      ++finished;
      cv.notify_all();
    });
    next += std::chrono::duration_cast<Clock::duration>(gap);
    std::this_thread::sleep_until(next);  // pacing the offered load, not synchronisation
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished == sent; });
  load.lifo_batches = batcher.lifo_batches();
  return load;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_CASE("MicroBatcher: under a standing overload the newest requests are scored first") {
  constexpr int kBound = 200;  // many passes long, so "waited about the bound" and "about a pass" are far apart
  double pass_ms = 0;
  const Load load = Offer(kBound, 4, 1.5, &pass_ms);
  const double median = Median(load.accepted_ms);
  INFO("pass " << pass_ms << " ms; accepted " << load.accepted << " (median " << median << " ms), shed "
               << load.shed << ", newest-first passes " << load.lifo_batches);
  REQUIRE(pass_ms < kBound / 20.0);  // else this machine cannot tell the two disciplines apart
  CHECK(load.other == 0);
  CHECK(load.shed > 0);
  CHECK(load.lifo_batches > 0);
  // Oldest first, with the queue costed up to the bound, the median accepted request waited ~0.9 x kBound;
  // newest first, a pass or two. A quarter of the bound is far from both.
  CHECK(median < kBound / 4.0);
  // Newest first still scores at the worker's pace (each pass one request): nothing starves the worker. The
  // phase offers 4 x capacity for 1.5 s; a quarter of capacity is far below what it scores even when loaded.
  CHECK(load.accepted > 1500.0 / pass_ms / 4);
}

TEST_CASE("MicroBatcher: below capacity the queue stays oldest first and nothing is shed") {
  constexpr int kBound = 500;
  double pass_ms = 0;
  const Load load = Offer(kBound, 0.25, 0.5, &pass_ms);
  INFO("pass " << pass_ms << " ms; accepted " << load.accepted << ", shed " << load.shed);
  CHECK(load.other == 0);
  CHECK(load.shed == 0);
  CHECK(load.lifo_batches == 0);
}
