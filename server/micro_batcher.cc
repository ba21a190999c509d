#include "server/micro_batcher.h"

#include <pthread.h>

#include <algorithm>

#include "absl/status/status.h"

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

void MicroBatcher::Submit(std::shared_ptr<const ItemTable> items, std::vector<float> query, uint32_t k,
                          std::vector<uint32_t> exclude, Done done) {
  auto pending = std::make_unique<Pending>();
  pending->items = std::move(items);
  pending->query = std::move(query);
  pending->k = k;
  pending->exclude = std::move(exclude);
  pending->arrival = std::chrono::steady_clock::now();
  pending->done = std::move(done);
  absl::Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refused = absl::UnavailableError("server is shutting down");
    } else if (queue_.size() >= options_.max_pending) {
      refused = absl::ResourceExhaustedError("too many recommendations in flight; retry with backoff");
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

void MicroBatcher::WorkerLoop() {
  pthread_setname_np(pthread_self(), "gpt4rec-score");  // visible in top -H / perf
  std::vector<std::unique_ptr<Pending>> batch;
  std::vector<TopKQuery> queries;
  for (;;) {
    batch.clear();
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
      const ItemTable* table = queue_.front()->items.get();
      for (auto it = queue_.begin(); it != queue_.end() && batch.size() < static_cast<size_t>(options_.max_batch);) {
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
    queries.clear();
    for (auto& p : batch) {
      queries.push_back({p->query.data(), p->k, p->exclude.empty() ? nullptr : &p->exclude, &p->result});
    }
    BatchTopK(batch.front()->items->packed, queries.data(), static_cast<int>(queries.size()));
    for (auto& p : batch) p->done(std::move(p->result));
  }
}

}  // namespace gpt4rec::server
