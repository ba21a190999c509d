// Private (torch): the model behind RecommenderModel. One class, its methods in one file per concern:
//   recommender_impl.cc   Create/Load, input validation, the per-segment strategy dispatch (Update)
//   bpr_trainer.cc        the epochs: parameter groups, BPR steps, early stopping
//   serving_export.cc     the published representations: Score, ExportEmbeddings, refresh
//   model_checkpoint.cc   Save and Restore
// Design page §2–4.
#pragma once

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/checkpoint_io.h"
#include "model/config_codec.h"
#include "model/csr_spmm.h"
#include "model/gpt4rec_net.h"
#include "model/graph_ops.h"
#include "model/lsp_distill.h"
#include "model/recommender_model.h"
#include "model/validation_metric.h"

namespace gpt4rec::model {

using Clock = std::chrono::steady_clock;
inline double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline NetShape ShapeFor(const ModelConfig& c) {
  NetShape s;
  s.dim = c.dim;
  s.views = c.views;
  s.node_prompts = c.node_prompts;
  s.structure_prompts = c.structure_prompts;
  s.structure = c.structure_prompt;
  s.view_prompts = c.view_prompts;
  s.recency = c.recency_prompt;
  s.recency_scale_free = c.recency_scale_free;
  s.layer_prompt = c.layer_prompt;
  s.prompts = UsesPrompts(c);
  s.layers = c.layers;
  s.init_std = c.init_std;
  s.random_prompts = c.prompts_in_segment0;
  return s;
}

inline void ApplyThreads(const ModelConfig& c) {
  int n = c.threads > 0 ? c.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) torch::set_num_threads(n);
}

// The module boundary: LibTorch reports failures (an allocation that fails, a shape it rejects) as C++
// exceptions, and none may cross the contract. `f` returns absl::Status or StatusOr; an escaping exception
// becomes RESOURCE_EXHAUSTED (out of memory) or INTERNAL naming the entry point and torch's message.
template <class F>
auto AtBoundary(const char* entry, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(entry, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(entry, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(entry, ": unknown exception"));
  }
}

enum class TrainPhase { kFull, kRows, kPrompts };

class ModelImpl final : public RecommenderModel {
 public:
  explicit ModelImpl(const ModelConfig& config) : config_(config) {}

  // The contract's entry points, each behind AtBoundary. After a failed Update the parameters may be partly
  // updated (as after a cancel): discard the object and Load the last checkpoint.
  absl::StatusOr<TrainReport> Update(const SegmentInput& input, const EpochCallback& on_epoch) override {
    return AtBoundary("Update", [&] { return UpdateUnguarded(input, on_epoch); });
  }
  absl::StatusOr<Embeddings> ExportEmbeddings() const override {
    return AtBoundary("ExportEmbeddings", [&] { return ExportUnguarded(); });
  }
  absl::Status Score(const std::vector<int32_t>& users, std::vector<float>* out) const override {
    return AtBoundary("Score", [&] { return ScoreUnguarded(users, out); });
  }
  absl::Status EraseUser(int32_t dense_user) override {
    return AtBoundary("EraseUser", [&] { return EraseUnguarded(dense_user); });
  }
  absl::Status Save(const std::string& path) const override {
    return AtBoundary("Save", [&] { return SaveUnguarded(path); });
  }
  const ModelConfig& config() const override { return config_; }
  int segments_seen() const override { return segments_; }

  absl::StatusOr<double> Recompute();
  void SetEpochs(int max_epochs, int min_epochs) {
    config_.max_epochs = max_epochs;
    config_.min_epochs = min_epochs;
  }
  absl::Status Restore(const CheckpointContents& c);
  // Test seam (test_support.h): the next training step throws a c10::Error, as a failing torch op would.
  void ThrowOnNextStep() { throw_on_next_step_ = true; }
  // Test seam: the last lsp update's teacher and targets (null before one).
  const LspTargets* last_lsp() const { return lsp_.get(); }

 private:
  absl::StatusOr<TrainReport> UpdateUnguarded(const SegmentInput& input, const EpochCallback& on_epoch);
  absl::StatusOr<Embeddings> ExportUnguarded() const;
  absl::Status ScoreUnguarded(const std::vector<int32_t>& users, std::vector<float>* out) const;
  absl::Status SaveUnguarded(const std::string& path) const;
  absl::Status EraseUnguarded(int32_t user);
  absl::Status ValidateInput(const SegmentInput& input) const;
  // What one call of Train fits: everything (segment 0, the baselines), prompt tuning's row phase, or its prompt
  // phase (ModelConfig::prompt_phase_epochs). false: cancelled through `cancel` before finishing.
  // `lsp` (lsp strategy only, else null): the distillation targets added to every step's loss.
  bool Train(const BipartiteCsr& g, const NormAdjacency& adj, const std::vector<int32_t>& pos_users,
             const std::vector<int32_t>& pos_items, const ValidSet& valid, TrainPhase phase,
             const LspTargets* lsp, const std::atomic<bool>* cancel, const EpochCallback& on_epoch,
             TrainReport* report);
  // Replay strategies: appends the replayed old edges (drawn from the previous graph's reservoir) to the
  // positives; returns how many.
  int64_t AddReplayedEdges(std::vector<int32_t>* pos_users, std::vector<int32_t>* pos_items) const;
  // ModelConfig.active_user_* / active_item_* on the old rows of the nodes in `train` (after lsp's teacher is
  // taken from them, before the new rows' 2-hop init, which then reads the refreshed rows).
  void RefreshActiveRows(const std::vector<Interaction>& train);
  // Computes z over the last graph and publishes it for Score/ExportEmbeddings.
  void PublishEmbeddings();
  void SetGraph(Graph graph);

  ModelConfig config_;
  int segments_ = 0;
  Gpt4RecNet net_{nullptr};  // null until the first trained segment (and for pop)
  Graph graph_;                           // the last accumulated graph
  std::unique_ptr<BipartiteCsr> bip_;     // its prepared form
  std::unique_ptr<NormAdjacency> adj_;    // and its Â (autograd keeps a pointer to it during training)

  // lsp: the last update's frozen teacher rows and targets. Kept after the update for the test seam; one copy of
  // the ID tables, replaced at the next update.
  std::unique_ptr<LspTargets> lsp_;

  bool throw_on_next_step_ = false;
  mutable std::shared_mutex mu_;          // guards the serving cache below
  torch::Tensor z_users_, z_items_, user_mean_;
  torch::Tensor gamma_users_;  // the view prompt's γ per user [U, K] (undefined: a checkpoint without it)
};

}  // namespace gpt4rec::model
