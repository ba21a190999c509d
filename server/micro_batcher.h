// Scores concurrent Recommend requests together: a worker takes every request queued when it becomes free (up to
// max_batch, optionally waiting window_us for more) and ranks them in ONE pass over the item matrix
// (BatchTopK). Under load, batches grow by themselves; an idle server answers a lone request at once.
//
// Shedding by time, not only by count: a count bound alone let a full queue (4,096 requests) wait seconds, so
// every accepted request was slow. The batcher fits a pass's cost to its batch size (fixed + per request x B,
// moving least squares over recent passes); a request whose expected wait (the queued requests' passes at that
// cost / workers) exceeds max_queue_ms or its own deadline is refused at once, and one that still waited
// longer than that when a worker reaches it is refused then, unscored. Both are RESOURCE_EXHAUSTED.
//
// Under a standing queue (not empty for max_queue_ms) the batcher switches to adaptive LIFO with a controlled
// delay: newest requests first, the wait bound cut to max_queue_ms / (threads + 1), and a pass limited to what
// its fitted cost finishes within the rest, max_queue_ms x threads / (threads + 1), so an accepted request's
// wait + pass stays within about max_queue_ms. Oldest first had every accepted request wait nearly the whole
// bound, then a pass on top (2.4x the unloaded p99 in the serve bench; 1.1-1.4x with this).
#pragma once

#include <chrono>
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
  int max_queue_ms = 0;        // >0: the queueing-time bound above
};

class MicroBatcher {
 public:
  explicit MicroBatcher(const MicroBatcherOptions& options);
  ~MicroBatcher();
  MicroBatcher(const MicroBatcher&) = delete;
  MicroBatcher& operator=(const MicroBatcher&) = delete;

  using Done = std::function<void(absl::StatusOr<std::vector<Scored>>)>;

  using TimePoint = std::chrono::steady_clock::time_point;
  // Queues the request; `done` runs on a scoring thread with the ranking (or RESOURCE_EXHAUSTED when it waited
  // too long), or at once, on the caller's thread, with RESOURCE_EXHAUSTED when the queue is full or the
  // expected wait is too long, or UNAVAILABLE after Stop(). `deadline`: the caller's (max: none).
  void Submit(std::shared_ptr<const ItemTable> items, std::vector<float> query, uint32_t k,
              std::vector<uint32_t> exclude, Done done, TimePoint deadline = TimePoint::max());

  // Blocking form of Submit.
  absl::StatusOr<std::vector<Scored>> TopK(std::shared_ptr<const ItemTable> items,
                                           std::vector<float> query, uint32_t k,
                                           std::vector<uint32_t> exclude);

  // Ranks what is queued, then stops the workers. Idempotent.
  void Stop();

  uint64_t batches() const;
  uint64_t requests() const;
  uint64_t shed() const;  // requests refused by the time bound
  uint64_t lifo_batches() const;  // passes taken newest first, under overload

  // Per scored request: its wait in the queue (arrival to its pass's start) and its pass's time and size.
  // Recorded only between RecordTimings(true) and (false), at most kMaxTimings, for benchmarks and tests that
  // split a Recommend's latency into queueing, scoring and (by difference from the client's figure) gRPC.
  struct RequestTiming {
    float wait_ms = 0;
    float pass_ms = 0;
    uint32_t batch = 0;
  };
  static constexpr size_t kMaxTimings = 1 << 20;
  void RecordTimings(bool on);
  std::vector<RequestTiming> TakeTimings();  // what was recorded since the last call

 private:
  struct Pending {
    std::shared_ptr<const ItemTable> items;
    std::vector<float> query;
    uint32_t k = 0;
    std::vector<uint32_t> exclude;
    std::vector<Scored> result;
    Done done;
    std::chrono::steady_clock::time_point arrival;
    TimePoint deadline = TimePoint::max();
  };
  void WorkerLoop();
  size_t BatchLimitLocked() const;  // requests per pass now (mu_ held)
  // A standing queue now or within max_queue_ms: newest first, the shorter wait bound (mu_ held).
  bool OverloadedLocked(TimePoint now);
  double PassShare() const;  // of --max_queue_ms, the most a pass may take: workers / (workers + 1)
  std::chrono::microseconds OverloadWait() const;  // the rest of --max_queue_ms: overload's wait bound

  const MicroBatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  uint64_t batches_ = 0;
  uint64_t requests_ = 0;
  uint64_t shed_ = 0;
  uint64_t lifo_batches_ = 0;
  TimePoint last_empty_;  // when the queue was last seen empty (a worker took all of it, or it was empty on arrival)
  TimePoint last_standing_;  // when OverloadedLocked last saw a standing queue
  bool record_timings_ = false;
  std::vector<RequestTiming> timings_;
  // A pass's time as fixed_us + per_request_us x its batch size, fitted to the recent passes (the fixed part:
  // streaming the item matrix once; the per-request part: B x items x dim multiply-adds and the top-k heaps).
  class PassCost {
   public:
    void Add(double batch, double pass_us);
    bool empty() const { return n_ == 0; }
    double fixed_us() const { return fixed_us_; }
    double per_request_us() const { return per_request_us_; }

   private:
    uint64_t n_ = 0;
    double mb_ = 0, mt_ = 0, mbb_ = 0, mbt_ = 0;  // moving means of B, t, B^2, B*t
    double fixed_us_ = 0, per_request_us_ = 0;
    double fixed_share_ = 0;  // fixed / mean pass in the last fit over varied batch sizes (0: none yet)
  };
  PassCost cost_;
  std::vector<std::thread> workers_;
};

}  // namespace gpt4rec::server
