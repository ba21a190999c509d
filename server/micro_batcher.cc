#include "server/micro_batcher.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gpt4rec::server {

MicroBatcher::MicroBatcher(const MicroBatcherOptions& options)
    : options_(options),
      last_empty_(std::chrono::steady_clock::now()),
      last_standing_(last_empty_ - std::chrono::hours(24)) {  // not overloaded at start
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
uint64_t MicroBatcher::lifo_batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lifo_batches_;
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
    //
    //
    // Under overload (OverloadedLocked) the bound is the shorter overload wait. The queue is still costed in
    // full, so the excess is refused here, at once, on the gRPC thread that took the call: letting every
    // request in and refusing the stale ones from the scoring threads (drop-head) moved some 70 % of all
    // replies onto the workers, each a cross-thread completion, and on a 2-core machine starved gRPC's own
    // threads — requests then waited seconds in gRPC before reaching the batcher (serve bench p50 6-11 s).
    const bool overloaded = OverloadedLocked(pending->arrival);
    const double queued = static_cast<double>(queue_.size());
    const double passes = std::ceil(queued / static_cast<double>(BatchLimitLocked()));
    const double expected_us = (passes * cost_.fixed_us() + queued * cost_.per_request_us()) /
                               static_cast<double>(std::max<size_t>(1, workers_.size()));
    double bound_us = options_.max_queue_ms <= 0 ? -1
                      : overloaded               ? static_cast<double>(OverloadWait().count())
                                                 : options_.max_queue_ms * 1000.0;
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
      if (queue_.empty()) last_empty_ = pending->arrival;  // it was empty until now: not overloaded
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

// With a queueing bound S (--max_queue_ms), a pass takes at most as many requests as its fitted cost lets finish
// within S x T/(T+1), T the workers: under overload, requests are scored newest first (OverloadedLocked), so an
// accepted one waits only for the next free worker, about a pass / T with the workers' passes staggered, and
// wait + pass stays within about S; the overload wait bound is the rest, S/(T+1). Without the limit every pass
// under overload was a full max_batch, whose scoring time (linear in the batch when compute-bound) came on top
// of the wait: with passes of up to the whole bound, accepted p99 was 2.4-2.6x the unloaded figure (serve
// bench, README). A smaller share (S/2 with T = 2) cut passes to 4 requests where the pass is mostly its fixed
// part (streaming 1M items) and goodput fell to 0.70-0.81x; T/(T+1) kept 1.05x. Where the pass is memory-bound
// and fast the limit is max_batch.
size_t MicroBatcher::BatchLimitLocked() const {
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  if (options_.max_queue_ms <= 0 || cost_.empty() || cost_.per_request_us() <= 0) return max_batch;
  const double fit = (options_.max_queue_ms * 1000.0 * PassShare() - cost_.fixed_us()) / cost_.per_request_us();
  return fit < 1 ? 1 : std::min(max_batch, static_cast<size_t>(fit));
}

double MicroBatcher::PassShare() const {
  const double workers = static_cast<double>(std::max(1, options_.threads));
  return workers / (workers + 1);
}

// Overloaded: the queue has not been empty for the last S (CoDel's signal: a standing queue, not a burst the
// workers drain). Not W = S/(T+1): below capacity the queue stands for up to a pass (new arrivals wait for the
// next free worker), longer than W, and 16 closed-loop clients got refused. Then, as in adaptive LIFO ("Fail at
// scale", Facebook 2015), the newest requests are scored first and the wait bound shrinks to W: under a
// standing queue FIFO scores exactly the requests that have already waited longest — every accepted one waited
// about the bound — while newest first scores requests that just arrived and lets the old ones, whose callers
// are the likeliest to have given up, be refused. Below capacity nothing changes.
//
// The state lasts S past the last standing queue: under overload the workers do drain the queue now and then
// (gRPC hands requests over in bursts when its threads are starved), and falling back to oldest first with the
// full bound at each drain let the next burst wait the whole bound again (wait p99 43-45 ms at S = 50 against
// an overload bound of 17).
bool MicroBatcher::OverloadedLocked(TimePoint now) {
  if (options_.max_queue_ms <= 0) return false;
  const auto s = std::chrono::milliseconds(options_.max_queue_ms);
  if (!queue_.empty() && now - last_empty_ > s) last_standing_ = now;
  return now - last_standing_ < s;
}

std::chrono::microseconds MicroBatcher::OverloadWait() const {
  return std::chrono::microseconds(static_cast<int64_t>(options_.max_queue_ms * 1000.0 * (1 - PassShare())));
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
  if (var > 0.25) {
    per_request_us_ = (mbt_ - mb_ * mt_) / var;
    fixed_us_ = mt_ - per_request_us_ * mb_;
    if (per_request_us_ > 0 && fixed_us_ >= 0) {
      fixed_share_ = fixed_us_ / mt_;
      return;
    }
    fixed_share_ = 0;  // no usable split: all of it per request (errs towards smaller passes)
  }
  // Batches of (nearly) one size say nothing about the split, and they are the rule once the batch limit bites
  // (every pass under overload is that limit), so the last split seen over varied sizes is kept and rescaled to
  // the recent mean. Calling it all per request there made each pass look too slow for its size: the limit
  // shrank, which made the next estimate worse, down to passes of one (measured, README).
  fixed_us_ = fixed_share_ * mt_;
  per_request_us_ = (mt_ - fixed_us_) / std::max(1.0, mb_);
}

void MicroBatcher::WorkerLoop() {
  pthread_setname_np(pthread_self(), "gpt4rec-score");  // visible in top -H / perf
  std::vector<std::unique_ptr<Pending>> batch;
  std::vector<std::unique_ptr<Pending>> expired;
  std::vector<TopKQuery> queries;
  const auto max_wait = std::chrono::microseconds(int64_t{options_.max_queue_ms} * 1000);
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
      const bool overloaded = OverloadedLocked(now);
      // Under overload the wait bound is what a pass leaves of the bound (BatchLimitLocked): a request that
      // waited longer was passed over by newer ones at least once and would end late if scored now.
      const auto wait_bound = overloaded ? OverloadWait() : max_wait;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((options_.max_queue_ms > 0 && now - (*it)->arrival > wait_bound) || now > (*it)->deadline) {
          expired.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      shed_ += expired.size();
      if (queue_.empty()) {
        last_empty_ = now;
        lock.unlock();
        for (auto& p : expired) {
          p->done(absl::ResourceExhaustedError("overloaded: waited longer than --max_queue_ms or its deadline "
                                               "before scoring; retry with backoff"));
        }
        continue;
      }
      const size_t max_batch = BatchLimitLocked();
      if (overloaded) {  // newest first (see OverloadedLocked)
        ++lifo_batches_;
        const ItemTable* table = queue_.back()->items.get();
        for (auto it = queue_.end(); it != queue_.begin() && batch.size() < max_batch;) {
          --it;
          if ((*it)->items.get() == table) {
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
          }
        }
      } else {
        const ItemTable* table = queue_.front()->items.get();
        for (auto it = queue_.begin(); it != queue_.end() && batch.size() < max_batch;) {
          if ((*it)->items.get() == table) {
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
          } else {
            ++it;
          }
        }
      }
      if (queue_.empty()) last_empty_ = now;
      ++batches_;
      requests_ += batch.size();
      more = !queue_.empty();
    }
    if (more) cv_.notify_one();  // another worker can start on the rest now
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
    // The refusals go after the pass and its replies: finishing a few dozen gRPC calls first (under overload,
    // each pass refuses more than it scores) delayed the pass, so every request in it, by milliseconds. A
    // refused caller hears at most one pass later, within about --max_queue_ms of its arrival.
    for (auto& p : expired) {
      p->done(absl::ResourceExhaustedError("overloaded: waited longer than --max_queue_ms or its deadline "
                                           "before scoring; retry with backoff"));
    }
  }
}

}  // namespace gpt4rec::server
