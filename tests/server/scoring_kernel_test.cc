// The batched exact top-k kernel against a brute-force reference (white-box test of server/scoring_kernel.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "server/micro_batcher.h"
#include "server/scoring_kernel.h"

using gpt4rec::server::BatchTopK;
using gpt4rec::server::PackItems;
using gpt4rec::server::Scored;
using gpt4rec::server::TopKQuery;

namespace {

std::vector<Scored> Reference(const std::vector<float>& rows, int n, int dim, const float* q, uint32_t k,
                              const std::vector<uint32_t>& exclude) {
  std::vector<Scored> all;
  for (int i = 0; i < n; ++i) {
    if (std::binary_search(exclude.begin(), exclude.end(), static_cast<uint32_t>(i))) continue;
    double s = 0;
    for (int d = 0; d < dim; ++d) s += static_cast<double>(q[d]) * rows[static_cast<size_t>(i) * dim + d];
    all.push_back({static_cast<float>(s), static_cast<uint32_t>(i)});
  }
  std::sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  if (all.size() > k) all.resize(k);
  return all;
}

// The same items in the same order with the same scores, up to float rounding: where two reference scores are
// within rounding of each other either order is right.
bool SameRanking(const std::vector<Scored>& got, const std::vector<Scored>& ref) {
  if (got.size() != ref.size()) return false;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::fabs(got[i].score - ref[i].score) > 1e-3f) return false;
    const bool tie_above = i > 0 && ref[i - 1].score - ref[i].score <= 1e-3f;
    const bool tie_below = i + 1 < ref.size() && ref[i].score - ref[i + 1].score <= 1e-3f;
    if (!tie_above && !tie_below && got[i].item != ref[i].item) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("BatchTopK equals brute force, with exclusions, any batch size, ragged item counts") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (int n : {1, 15, 17, 1000, 5003}) {
    for (int dim : {8, 64}) {
      std::vector<float> rows(static_cast<size_t>(n) * dim);
      for (auto& x : rows) x = normal(rng);
      for (bool bf16 : {false, true}) {
      const auto packed = PackItems(rows.data(), n, dim, bf16);
      if (bf16 && !packed.has_bf16()) WARN("CPU without AVX512-BF16: only the fp32 path is tested");
      for (int batch : {1, 3, 8, 13, 37}) {
        std::vector<float> queries(static_cast<size_t>(batch) * dim);
        for (auto& x : queries) x = normal(rng);
        std::vector<std::vector<uint32_t>> excludes(batch);
        std::vector<std::vector<Scored>> outs(batch);
        std::vector<TopKQuery> qs(batch);
        for (int b = 0; b < batch; ++b) {
          for (int i = 0; i < n; ++i) {
            if (rng() % 5 == 0) excludes[b].push_back(i);
          }
          const uint32_t k = std::vector<uint32_t>{1, 20, 1000}[b % 3];
          qs[b] = {queries.data() + static_cast<size_t>(b) * dim, k, b % 2 ? &excludes[b] : nullptr, &outs[b]};
        }
        BatchTopK(packed, qs.data(), batch);
        for (int b = 0; b < batch; ++b) {
          const auto ref = Reference(rows, n, dim, qs[b].vector, qs[b].k, b % 2 ? excludes[b] : std::vector<uint32_t>{});
          REQUIRE(outs[b].size() == ref.size());
          for (size_t i = 0; i < ref.size(); ++i) {
            // Same ranking up to float rounding: the i-th score matches, and the item is the reference's unless
            // two scores are within rounding of each other.
            REQUIRE(outs[b][i].score == Approx(ref[i].score).margin(1e-4));
            if (i + 1 < ref.size() && ref[i].score - ref[i + 1].score > 1e-3 && (i == 0 || ref[i - 1].score - ref[i].score > 1e-3)) {
              REQUIRE(outs[b][i].item == ref[i].item);
            }
            if (b % 2) REQUIRE_FALSE(std::binary_search(excludes[b].begin(), excludes[b].end(), outs[b][i].item));
          }
        }
      }
      }
    }
  }
}

TEST_CASE("MicroBatcher: concurrent callers each get their own exact top-k, with and without a window") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  const int n = 3000, dim = 16;
  std::vector<float> rows(static_cast<size_t>(n) * dim);
  for (auto& x : rows) x = normal(rng);
  auto table = std::make_shared<gpt4rec::server::ItemTable>();
  table->dim = dim;
  table->packed = PackItems(rows.data(), n, dim);
  for (int window : {0, 300}) {
    gpt4rec::server::MicroBatcherOptions options;
    options.threads = 2;
    options.max_batch = 8;
    options.window_us = window;
    gpt4rec::server::MicroBatcher batcher(options);
    std::atomic<int> wrong{0}, done{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 12; ++t) {
      callers.emplace_back([&, t] {
        std::mt19937 r(100 + t);
        std::normal_distribution<float> nd;
        for (int i = 0; i < 40; ++i) {
          std::vector<float> q(dim);
          for (auto& x : q) x = nd(r);
          std::vector<uint32_t> exclude = {static_cast<uint32_t>(r() % n)};
          const auto ref = Reference(rows, n, dim, q.data(), 5, exclude);
          auto got = batcher.TopK(table, q, 5, exclude);
          if (!got.ok() || got->size() != 5) {
            ++wrong;
            continue;
          }
          if (!SameRanking(*got, ref)) ++wrong;
          ++done;
        }
      });
    }
    for (auto& c : callers) c.join();
    CHECK(wrong == 0);
    CHECK(done == 12 * 40);
    CHECK(batcher.requests() == 12 * 40);
    // 12 callers on 2 workers: with a window, workers wait for company, so some batches hold several requests.
    if (window > 0) CHECK(batcher.batches() < batcher.requests());
  }
}

TEST_CASE("MicroBatcher: requests queued together are ranked in one pass, each with its own top-k") {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  const int n = 2000, dim = 8, count = 8;
  std::vector<float> rows(static_cast<size_t>(n) * dim);
  for (auto& x : rows) x = normal(rng);
  auto table = std::make_shared<gpt4rec::server::ItemTable>();
  table->dim = dim;
  table->packed = PackItems(rows.data(), n, dim);
  gpt4rec::server::MicroBatcherOptions options;
  options.threads = 1;
  options.max_batch = count;
  options.window_us = 10'000'000;  // the worker waits (up to 10 s) until `count` requests are queued
  gpt4rec::server::MicroBatcher batcher(options);

  std::vector<std::vector<float>> queries(count, std::vector<float>(dim));
  for (auto& q : queries)
    for (auto& x : q) x = normal(rng);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<absl::StatusOr<std::vector<Scored>>> results(count, absl::UnknownError("not run"));
  int finished = 0;
  for (int i = 0; i < count; ++i) {
    batcher.Submit(table, queries[i], 10, {static_cast<uint32_t>(i)}, [&, i](absl::StatusOr<std::vector<Scored>> r) {
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(r);
      ++finished;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished == count; }));
  }
  CHECK(batcher.requests() == count);
  CHECK(batcher.batches() == 1);
  for (int i = 0; i < count; ++i) {
    REQUIRE(results[i].ok());
    CHECK(SameRanking(*results[i], Reference(rows, n, dim, queries[i].data(), 10, {static_cast<uint32_t>(i)})));
  }
}
