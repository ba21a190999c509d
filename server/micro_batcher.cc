#include "server/micro_batcher.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gpt4rec::server {

MicroBatcher::MicroBatcher(const MicroBatcherOptions& options) : options_(options) {
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

MicroBatcher::~MicroBatcher() { Stop(); }

void MicroBatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

uint64_t MicroBatcher::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}
uint64_t MicroBatcher::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}
uint64_t MicroBatcher::shed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shed_;
}

void MicroBatcher::RecordTimings(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  record_timings_ = on;
}
std::vector<MicroBatcher::RequestTiming> MicroBatcher::TakeTimings() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(timings_, {});
}

void MicroBatcher::Submit(std::shared_ptr<const ItemTable> items, std::vector<float> query, uint32_t k,
                          std::vector<uint32_t> exclude, Done done, TimePoint deadline) {
  auto pending = std::make_unique<Pending>();
  pending->items = std::move(items);
  pending->query = std::move(query);
  pending->k = k;
  pending->exclude = std::move(exclude);
  pending->arrival = std::chrono::steady_clock::now();
  pending->done = std::move(done);
  pending->deadline = deadline;
  absl::Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The scoring ahead of this request (the queue, not its own: a lone request on an idle server is never
    // refused, however slow one pass is), shared by the workers. A pass's cost grows with its batch (B queries
    // x items x dim multiply-adds), so the queue is costed per request, not per pass: costing it in passes of
    // the average size underestimated a full queue by the ratio of a full batch to the average one.
    const double queued = static_cast<double>(queue_.size());
    const double passes = std::ceil(queued / static_cast<double>(BatchLimitLocked()));
    const double expected_us = (passes * cost_.fixed_us() + queued * cost_.per_request_us()) /
                               static_cast<double>(std::max<size_t>(1, workers_.size()));
    double bound_us = options_.max_queue_ms > 0 ? options_.max_queue_ms * 1000.0 : -1;
    if (deadline != TimePoint::max()) {
      const double left_us =
          std::chrono::duration<double, std::micro>(deadline - pending->arrival).count();
      bound_us = bound_us < 0 ? left_us : std::min(bound_us, left_us);
    }
    if (stopping_) {
      refused = absl::UnavailableError("server is shutting down");
    } else if (queue_.size() >= options_.max_pending) {
      refused = absl::ResourceExhaustedError("too many recommendations in flight; retry with backoff");
    } else if (bound_us >= 0 && expected_us > bound_us) {
      ++shed_;
      refused = absl::ResourceExhaustedError(absl::StrCat(
          "overloaded: expected queueing delay ", static_cast<int64_t>(expected_us / 1000), " ms exceeds ",
          static_cast<int64_t>(bound_us / 1000), " ms (--max_queue_ms=", options_.max_queue_ms,
          " or the request's deadline); retry with backoff"));
    } else {
      queue_.push_back(std::move(pending));
    }
  }
  if (!refused.ok()) {  // outside the lock: `done` may call into gRPC
    pending->done(refused);
    return;
  }
  cv_.notify_one();
}

absl::StatusOr<std::vector<Scored>> MicroBatcher::TopK(std::shared_ptr<const ItemTable> items,
                                                       std::vector<float> query, uint32_t k,
                                                       std::vector<uint32_t> exclude) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::StatusOr<std::vector<Scored>> result;
  };
  auto wait = std::make_shared<Wait>();
  Submit(std::move(items), std::move(query), k, std::move(exclude),
         [wait](absl::StatusOr<std::vector<Scored>> result) {
           std::lock_guard<std::mutex> lock(wait->mu);
           wait->result = std::move(result);
           wait->done = true;
           wait->cv.notify_one();
         });
  std::unique_lock<std::mutex> lock(wait->mu);
  wait->cv.wait(lock, [&] { return wait->done; });
  return std::move(wait->result);
}

// With a queueing bound, a pass takes at most as many requests as its fitted cost lets finish within that bound:
// under overload every pass would otherwise be a full max_batch, whose scoring time (linear in the batch when
// compute-bound) came on top of the queueing delay — accepted requests' p99 reached 3.7-4x the unloaded figure
// while their wait in the queue stayed below the bound (serve bench, README). Where the pass is memory-bound
// (a fast core: mostly the fixed part, the item matrix's stream) the limit is max_batch; where it bites,
// scoring is compute-bound, so smaller passes cost little throughput (measured: 0.91-0.96x the closed-loop
// capacity accepted, against 0.98-1.02x with full batches).
size_t MicroBatcher::BatchLimitLocked() const {
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  if (options_.max_queue_ms <= 0 || cost_.empty() || cost_.per_request_us() <= 0) return max_batch;
  const double fit = (options_.max_queue_ms * 1000.0 - cost_.fixed_us()) / cost_.per_request_us();
  return fit < 1 ? 1 : std::min(max_batch, static_cast<size_t>(fit));
}

// Moving least squares of pass time against batch size: t = fixed + per_request x B.
void MicroBatcher::PassCost::Add(double b, double t) {
  const double w = n_ == 0 ? 1.0 : 0.05;
  ++n_;
  mb_ += w * (b - mb_);
  mt_ += w * (t - mt_);
  mbb_ += w * (b * b - mbb_);
  mbt_ += w * (b * t - mbt_);
  const double var = mbb_ - mb_ * mb_;
  // Batches of (nearly) one size say nothing about the split: all of it per request (errs towards shedding).
  per_request_us_ = var > 0.25 ? (mbt_ - mb_ * mt_) / var : mt_ / std::max(1.0, mb_);
  fixed_us_ = mt_ - per_request_us_ * mb_;
  if (per_request_us_ <= 0 || fixed_us_ < 0) {
    per_request_us_ = mt_ / std::max(1.0, mb_);
    fixed_us_ = 0;
  }
}

void MicroBatcher::WorkerLoop() {
  pthread_setname_np(pthread_self(), "gpt4rec-score");  // visible in top -H / perf
  std::vector<std::unique_ptr<Pending>> batch;
  std::vector<std::unique_ptr<Pending>> expired;
  std::vector<TopKQuery> queries;
  const auto max_wait = std::chrono::milliseconds(options_.max_queue_ms);
  for (;;) {
    batch.clear();
    expired.clear();
    bool more = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      if (options_.window_us > 0 && !stopping_ &&
          queue_.size() < static_cast<size_t>(options_.max_batch)) {
        const auto deadline = queue_.front()->arrival + std::chrono::microseconds(options_.window_us);
        cv_.wait_until(lock, deadline, [&] {
          return stopping_ || queue_.size() >= static_cast<size_t>(options_.max_batch);
        });
        // Another worker may have taken everything while this one waited.
        if (queue_.empty()) continue;
      }
      // One pass scores one item matrix: take requests for the item table at the front (all of them, unless a
      // model swap happened between arrivals).
      // Requests that already waited past their bound are refused, not scored: scoring them would only make
      // the ones behind them late too.
      const auto now = std::chrono::steady_clock::now();
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((options_.max_queue_ms > 0 && now - (*it)->arrival > max_wait) || now > (*it)->deadline) {
          expired.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      shed_ += expired.size();
      if (queue_.empty()) {
        lock.unlock();
        for (auto& p : expired) {
          p->done(absl::ResourceExhaustedError("overloaded: waited longer than --max_queue_ms or its deadline "
                                               "before scoring; retry with backoff"));
        }
        continue;
      }
      const ItemTable* table = queue_.front()->items.get();
      const size_t max_batch = BatchLimitLocked();
      for (auto it = queue_.begin(); it != queue_.end() && batch.size() < max_batch;) {
        if ((*it)->items.get() == table) {
          batch.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      ++batches_;
      requests_ += batch.size();
      more = !queue_.empty();
    }
    if (more) cv_.notify_one();  // another worker can start on the rest now
    for (auto& p : expired) {
      p->done(absl::ResourceExhaustedError("overloaded: waited longer than --max_queue_ms or its deadline "
                                           "before scoring; retry with backoff"));
    }
    queries.clear();
    for (auto& p : batch) {
      queries.push_back({p->query.data(), p->k, p->exclude.empty() ? nullptr : &p->exclude, &p->result});
    }
    const auto t0 = std::chrono::steady_clock::now();
    BatchTopK(batch.front()->items->packed, queries.data(), static_cast<int>(queries.size()));
    const double pass_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      cost_.Add(static_cast<double>(batch.size()), pass_us);
      for (const auto& p : batch) {
        if (!record_timings_ || timings_.size() >= kMaxTimings) break;
        timings_.push_back({static_cast<float>(std::chrono::duration<double, std::milli>(t0 - p->arrival).count()),
                            static_cast<float>(pass_us / 1000), static_cast<uint32_t>(batch.size())});
      }
    }
    for (auto& p : batch) p->done(std::move(p->result));
  }
}

}  // namespace gpt4rec::server
