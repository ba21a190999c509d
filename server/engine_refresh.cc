// The background refresh loop: the popular list and the folded-in new items, every --refresh_ms, spending at
// most ~10% of a core; also the training gauges.
#include "server/engine.h"

#include <algorithm>
#include <chrono>
#include <mutex>

namespace gpt4rec::server {

void Engine::RefreshLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  auto last_cost = std::chrono::milliseconds(0);
  while (!stopped_) {
    // The scans cost CPU that ingest and Recommend need: spend at most ~10% of a core on them.
    const auto wait = std::max(std::chrono::milliseconds(std::max(10, options_.refresh_ms)), last_cost * 10);
    stop_cv_.wait_for(lock, wait);
    if (stopped_) break;
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    RefreshPopular();
    RefreshNewItems();
    CheckStorageWritable();  // disk full: notices freed space and resumes writes without a restart
    last_cost = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (metrics_) {
      metrics_->training_queue->Set(trainer_->queued());
      metrics_->training_running->Set(trainer_->training_now() ? 1 : 0);
    }
    lock.lock();
  }
}

}  // namespace gpt4rec::server
