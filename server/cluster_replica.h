// Cluster mode (--log=nats://...): this replica's side of the replicated event log (cluster/event_log.h).
//
// Writes (Ingest, CloseSegment, DeleteUser) are not applied where they arrive: they are published to the log as
// entries (server/log_entry.h) and acknowledged after JetStream's replicated ack. One applier thread follows the
// log from the store's applied position and applies every entry, in order, through the Engine, which records the
// entry's sequence in the same RocksDB WriteBatch. So every replica — the one that published included — holds
// the same graph and cuts the same segments, and a crash re-applies exactly the entries after the last recorded
// one. The RPC that published then waits (bounded) for its own replica to apply the entry and answers with that
// outcome, as single-process mode does.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/event_log.h"
#include "server/log_entry.h"
#include "server/metrics.h"
#include "server/service.h"
#include "storage/graph_store.h"

namespace gpt4rec::server {

class Engine;

class ClusterReplica {
 public:
  // Connects to NATS (in the background when it is down) and starts applying the log after `applied`.
  static absl::StatusOr<std::unique_ptr<ClusterReplica>> Start(const ServerOptions& options, Engine* engine,
                                                               Metrics* metrics, uint64_t applied);
  ~ClusterReplica();
  void Stop();  // idempotent; waiters still pending are answered (not reached)

  absl::StatusOr<storage::AppendResult> Ingest(const std::vector<storage::Event>& events, uint64_t* log_sequence);
  absl::StatusOr<storage::SegmentInfo> CloseSegment();
  absl::StatusOr<storage::DeleteResult> DeleteUser(const std::string& user_id);

  // Read-your-writes: `done(true)` once entry `sequence` is applied here, `done(false)` at `deadline` if not.
  // Runs at once, on the applier thread, or on the waiter thread; never under a lock.
  void WhenApplied(uint64_t sequence, std::chrono::steady_clock::time_point deadline, std::function<void(bool)> done);

  uint64_t applied() const;
  uint64_t log_last_sequence() const;
  bool connected() const;

 private:
  // What applying one entry did here, kept for the RPC that published it (the last kRecent entries).
  struct Outcome {
    absl::Status status;
    storage::AppendResult append;
    storage::SegmentInfo segment;
    storage::DeleteResult deleted;
  };
  static constexpr size_t kRecent = 4096;

  ClusterReplica(const ServerOptions& options, Engine* engine, Metrics* metrics, uint64_t applied,
                 std::unique_ptr<cluster::EventLog> log);
  absl::Status Apply(uint64_t sequence, std::string_view payload);
  void ApplyLoop();
  void WaiterLoop();
  // Publishes `entry` and waits for its outcome here; UNAVAILABLE when the log did not acknowledge it.
  absl::StatusOr<Outcome> Write(const LogEntry& entry, uint64_t* log_sequence);

  const ServerOptions options_;
  Engine* const engine_;
  Metrics* const metrics_;
  std::unique_ptr<cluster::EventLog> log_;

  mutable std::mutex mu_;
  std::condition_variable applied_cv_;  // applied_ moved or stopping
  uint64_t applied_ = 0;
  bool stopping_ = false;
  std::map<uint64_t, Outcome> recent_;
  struct Waiter {
    std::chrono::steady_clock::time_point deadline;
    std::function<void(bool)> done;
  };
  std::multimap<uint64_t, Waiter> waiters_;  // by sequence
  std::condition_variable waiter_cv_;

  std::thread applier_;
  std::thread waiter_thread_;
};

}  // namespace gpt4rec::server
