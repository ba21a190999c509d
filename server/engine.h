// The service's logic without gRPC: storage, trainer, serving snapshots, fold-in, popularity, micro-batching.
// The gRPC layer (recommender_service.cc) maps protos onto these calls and adds auth, limits and metrics.
//
// Data directory layout:
//   <data_dir>/graph/                 RocksDB graph store
//   <data_dir>/model/model.ckpt       model checkpoint (model Save/Load), the trainer's state
//   <data_dir>/model/serving.bin      the serving representations + version (restart serves them at once)
//   <data_dir>/model/last_training.json  summary of the last training (GetStats after a restart)
//   <data_dir>/snapshots/<unix time>/ Snapshot RPC output (same layout: graph/ and model/)
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recommender_model.h"
#include "server/metrics.h"
#include "server/micro_batcher.h"
#include "server/segment_trainer.h"
#include "server/service.h"
#include "server/serving_snapshot.h"
#include "storage/graph_store.h"

namespace gpt4rec::server {

enum class RecSource { kModel, kFoldIn, kPopular };

struct RecItem {
  std::string item_id;
  float score = 0;
};

struct RecResult {
  std::vector<RecItem> items;
  uint64_t model_version = 0;
  RecSource source = RecSource::kPopular;
};

struct TrainingSummary {
  bool present = false;
  uint32_t segment = 0;
  uint64_t model_version = 0;
  std::string mode;
  uint32_t epochs = 0;
  float final_loss = 0;
  float valid_recall20 = 0;
  double seconds = 0;
  int64_t finished_at = 0;
};

struct EngineStats {
  storage::Counts counts;
  storage::SegmentInfo open_segment;
  uint32_t closed_segments = 0;
  uint64_t model_version = 0;
  uint32_t training_queue = 0;
  bool training_now = false;
  TrainingSummary last_training;
};

struct SnapshotResult {
  std::string dir;
  uint64_t events = 0;
  uint64_t model_version = 0;
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const ServerOptions& options, Metrics* metrics);
  ~Engine();

  // Stores a validated batch; queues segments it closed for training.
  absl::StatusOr<storage::AppendResult> Ingest(const std::vector<storage::Event>& events);
  using RecDone = std::function<void(absl::StatusOr<RecResult>)>;
  // k already bounded by the caller. `done` runs once: on this thread (popular replies, errors) or on a scoring
  // thread after the micro-batcher ranked the request; no thread waits in between.
  void Recommend(const std::string& user_id, uint32_t k, const std::vector<std::string>& exclude_item_ids,
                 bool include_seen, RecDone done);
  absl::StatusOr<storage::SegmentInfo> CloseSegment();
  EngineStats GetStats() const;
  absl::StatusOr<storage::DeleteResult> DeleteUser(const std::string& user_id);
  absl::StatusOr<SnapshotResult> Snapshot(const std::string& dir);

  bool WaitForTrainingIdle(int timeout_ms);
  absl::Status InstallModel(const SyntheticModel& model, uint64_t version);
  // Drains scoring, interrupts a running training, stops background threads, flushes storage. Idempotent.
  void Stop();

 private:
  Engine(const ServerOptions& options, Metrics* metrics);
  absl::Status Init();
  // Builds a snapshot from representations in storage dense ids and publishes it.
  absl::Status PublishRepresentations(uint64_t version, int64_t trained_segment, int32_t dim, int32_t num_users,
                                      std::vector<float> users, int32_t num_items, std::vector<float> items);
  absl::Status OnTrained(TrainingOutcome&& outcome);
  void RefreshPopular();
  void RefreshNewItems();
  void RefreshLoop();
  RecResult Popular(const std::vector<uint32_t>& exclude, uint32_t k, uint64_t version) const;
  std::shared_ptr<const ServingSnapshot> snapshot() const { return std::atomic_load(&snapshot_); }

  const ServerOptions options_;
  Metrics* const metrics_;
  std::string model_dir_;
  std::unique_ptr<storage::GraphStore> store_;
  std::unique_ptr<SegmentTrainer> trainer_;
  std::unique_ptr<MicroBatcher> batcher_;

  std::shared_ptr<const ServingSnapshot> snapshot_;  // atomic_load / atomic_store only

  // Most frequent items of the last popular_window_events events, most popular first.
  struct PopularList {
    std::vector<std::pair<uint32_t, uint32_t>> items;  // (item, count)
    uint64_t through_sequence = 0;
  };
  std::shared_ptr<const PopularList> popular_;  // atomic_load / atomic_store only

  // Items stored after the serving model was trained, folded in: each one's representation is the mean of the
  // trained rows of the users who touched it, so new items are ranked before the next training. Rebuilt every
  // --refresh_ms when events arrived or the model changed; scored per request next to the batched pass.
  struct NewItems {
    const ItemTable* base = nullptr;  // the trained item table these extend
    uint64_t through_sequence = 0;
    int32_t dim = 0;
    std::vector<uint32_t> ids;
    std::vector<float> rows;          // ids.size() x dim
    std::vector<std::string> names;
  };
  std::shared_ptr<const NewItems> new_items_;  // atomic_load / atomic_store only
  std::atomic<uint64_t> last_sequence_{0};

  mutable std::mutex summary_mu_;
  TrainingSummary last_training_;
  std::mutex publish_mu_;  // serialises snapshot replacement (training vs DeleteUser vs install)

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::thread refresher_;
};

}  // namespace gpt4rec::server
