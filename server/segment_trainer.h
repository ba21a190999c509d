// Trains closed segments in ONE background thread, in segment order, one at a time; closes that arrive while a
// segment trains queue up. For segment s the model input is:
//   graph  = the accumulated graph of segments 0..s (storage AccumulatedCsr) minus s's validation edges;
//   train  = s's distinct (user, item) edges (storage SegmentEdges) not held out;
//   valid  = a seeded hash split of those edges: an edge is held out when hash(user, item, seed) falls below
//            valid_fraction (default 10%). Hashing instead of shuffling keeps the split identical after a restart
//            and independent of edge order; segments with fewer than 20 edges are not split (all train).
// After Update the trainer exports the representations, writes the model checkpoint, then hands them to
// `publish` (which writes the serving file). Persisted order matters for crash recovery, and makes a segment's
// training idempotent: a kill before the checkpoint retrains the segment (nothing of it was persisted); a kill
// between the two writes leaves the checkpoint ahead, and start-up re-exports the checkpoint's representations
// (same segment, next version) instead of training the segment a second time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "model/recommender_model.h"
#include "storage/graph_store.h"

namespace gpt4rec::server {

struct TrainingOutcome {
  uint32_t segment = 0;
  model::TrainReport report;
  model::Embeddings embeddings;
  int64_t finished_at = 0;  // unix seconds
};

struct SegmentTrainerOptions {
  std::string checkpoint_path;  // model checkpoint (model Save/Load)
  double valid_fraction = 0.1;
  uint64_t split_seed = 7;
};

class SegmentTrainer {
 public:
  // Called on the training thread with the new representations, after the checkpoint is written; must publish
  // them (and persist the serving file). A non-OK status is logged and training pauses (restart re-exports).
  using PublishFn = std::function<absl::Status(TrainingOutcome&&)>;
  // Called after each epoch (progress) with the segment being trained.
  using ProgressFn = std::function<void(uint32_t segment, const model::EpochLog&)>;
  // Cluster mode ("one trainer at a time"): asked on the training thread before `segment` is trained, blocks
  // until it decides. kTrain: this replica holds the trainer lease, train it here. kAdopt: `model` (a published
  // model, already persisted as the checkpoint) replaces this trainer's; it has consumed the segment. kStop:
  // `cancel` was set (shutdown).
  struct GateDecision {
    enum Kind { kTrain, kAdopt, kStop } kind = kStop;
    std::unique_ptr<model::RecommenderModel> model;
  };
  using GateFn = std::function<GateDecision(uint32_t segment, const std::atomic<bool>& cancel)>;

  // `gate` empty: every queued segment is trained here (single process).
  SegmentTrainer(storage::GraphStore* store, std::unique_ptr<model::RecommenderModel> model,
                 const SegmentTrainerOptions& options, PublishFn publish, ProgressFn progress,
                 GateFn gate = nullptr);
  ~SegmentTrainer();

  // Queues every closed segment up to and including `segment` that the model has not seen yet.
  void TrainThrough(uint32_t segment);
  // Interrupts a running training (the model stops before its next batch; nothing is published or saved for
  // that segment), drops the queue (storage still knows those segments are closed and the checkpoint says which
  // were trained, so a restart re-queues them), joins the thread. Idempotent.
  void Stop();

  int64_t trained_segment() const;  // -1 before the first training
  uint32_t queued() const;          // segments waiting or training
  bool training_now() const;
  // Why training is paused: the failed segment and its error; empty while nothing has failed since the start.
  std::string last_error() const;
  bool WaitIdle(int timeout_ms);

  // Held while the checkpoint is written; copy the model files under it for a consistent backup.
  std::mutex& files_mutex() { return files_mu_; }

  // Erasure (DeleteUser; call with files_mutex() held): zeroes the user's rows in the model and rewrites the
  // checkpoint atomically. While a segment's Update runs, the rows are zeroed right after it, before that
  // training's checkpoint and serving export. Every later checkpoint of this process re-zeroes them.
  absl::Status EraseUser(int32_t dense_user);

 private:
  void Loop();
  absl::Status TrainOne(uint32_t segment);

  storage::GraphStore* const store_;
  std::unique_ptr<model::RecommenderModel> model_;
  const SegmentTrainerOptions options_;
  PublishFn publish_;
  ProgressFn progress_;
  GateFn gate_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t trained_ = -1;  // last segment the model has consumed
  int64_t target_ = -1;   // train through this segment
  bool running_ = false;
  bool stopping_ = false;
  std::string last_error_;
  std::atomic<bool> cancel_{false};  // read by the model between training batches
  bool updating_ = false;             // model_->Update runs: EraseUser only records the user
  std::vector<int32_t> erased_;       // users erased since the start, zeroed again after every Update
  std::mutex files_mu_;
  std::thread thread_;
};

}  // namespace gpt4rec::server
