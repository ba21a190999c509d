// A fixed set of threads that run posted tasks. Ingest work (validation, the storage write, an fsync with
// --sync_wal) blocks for milliseconds; gRPC's callback threads must not block, so the callback handlers of
// Ingest and IngestStream post that work here. The thread count bounds concurrent writes; it is NOT a thread
// per stream: an idle stream holds no thread anywhere.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gpt4rec::server {

class WorkPool {
 public:
  WorkPool(int threads, const char* name);
  ~WorkPool();  // runs what is queued, then joins
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Callers bound how much they post (the ingest in-flight reservation), so the queue needs no bound here.
  void Post(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  const char* name_;
};

}  // namespace gpt4rec::server
