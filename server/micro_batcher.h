// Scores concurrent Recommend requests together: a worker takes every request queued when it becomes free (up to
// max_batch, optionally waiting window_us for more) and ranks them in ONE pass over the item matrix
// (BatchTopK). Under load, batches grow by themselves; an idle server answers a lone request at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/scoring_kernel.h"
#include "server/serving_tables.h"

namespace gpt4rec::server {

struct MicroBatcherOptions {
  int threads = 2;             // scoring workers (one batch each at a time)
  int max_batch = 32;          // queries per pass
  int window_us = 0;           // >0: a worker with a partial batch waits this long for more requests
  size_t max_pending = 4096;   // queued requests beyond this get RESOURCE_EXHAUSTED
};

class MicroBatcher {
 public:
  explicit MicroBatcher(const MicroBatcherOptions& options);
  ~MicroBatcher();
  MicroBatcher(const MicroBatcher&) = delete;
  MicroBatcher& operator=(const MicroBatcher&) = delete;

  using Done = std::function<void(absl::StatusOr<std::vector<Scored>>)>;

  // Queues the request; `done` runs on a scoring thread with the ranking (or at once, on the caller's thread,
  // with RESOURCE_EXHAUSTED when the queue is full or UNAVAILABLE after Stop()).
  void Submit(std::shared_ptr<const ItemTable> items, std::vector<float> query, uint32_t k,
              std::vector<uint32_t> exclude, Done done);

  // Blocking form of Submit.
  absl::StatusOr<std::vector<Scored>> TopK(std::shared_ptr<const ItemTable> items,
                                           std::vector<float> query, uint32_t k,
                                           std::vector<uint32_t> exclude);

  // Ranks what is queued, then stops the workers. Idempotent.
  void Stop();

  uint64_t batches() const;
  uint64_t requests() const;

 private:
  struct Pending {
    std::shared_ptr<const ItemTable> items;
    std::vector<float> query;
    uint32_t k = 0;
    std::vector<uint32_t> exclude;
    std::vector<Scored> result;
    Done done;
    std::chrono::steady_clock::time_point arrival;
  };
  void WorkerLoop();

  const MicroBatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  uint64_t batches_ = 0;
  uint64_t requests_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace gpt4rec::server
