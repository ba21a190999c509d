// Serving tables: built from representations in storage dense ids and published by an atomic pointer swap
// (requests in flight keep the tables they started with); after each training also persisted to the serving
// file and summarised.
#include "server/engine.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/serving_file.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {

absl::Status Engine::PublishRepresentations(uint64_t version, int64_t trained_segment, int32_t dim,
                                            int32_t num_users, std::vector<float> users, int32_t num_items,
                                            std::vector<float> items, int32_t views,
                                            std::vector<float> user_view_weights) {
  if (dim <= 0 || users.size() != static_cast<size_t>(num_users) * dim ||
      items.size() != static_cast<size_t>(num_items) * dim) {
    return absl::InvalidArgumentError("representations: matrix sizes disagree with dim/num_users/num_items");
  }
  if (views < 0 || user_view_weights.size() != static_cast<size_t>(num_users) * views) {
    return absl::InvalidArgumentError("representations: view weights' size disagrees with num_users x views");
  }
  auto table = std::make_shared<ItemTable>();
  table->dim = dim;
  table->packed = PackItems(items.data(), num_items, dim);
  table->names.resize(num_items);
  for (int32_t i = 0; i < num_items; ++i) {
    auto name = store_->ItemName(static_cast<uint32_t>(i));
    if (name.ok()) table->names[i] = std::move(*name);
  }
  auto tables = std::make_shared<ServingTables>();
  tables->version = version;
  tables->trained_segment = trained_segment;
  tables->dim = dim;
  tables->num_users = num_users;
  tables->users = std::make_shared<const std::vector<float>>(std::move(users));
  tables->items = std::move(table);
  tables->views = views;
  tables->user_view_weights = std::make_shared<const std::vector<float>>(std::move(user_view_weights));
  std::lock_guard<std::mutex> lock(publish_mu_);
  std::atomic_store(&serving_, std::shared_ptr<const ServingTables>(std::move(tables)));
  if (metrics_) metrics_->model_version->Set(static_cast<double>(version));
  return absl::OkStatus();
}

absl::Status Engine::OnTrained(TrainingOutcome&& outcome) {
  // Cluster mode: after the last published version (a follower that took over may serve an older one).
  const uint64_t version = std::max(serving()->version, head_version_.load()) + 1;
  auto& emb = outcome.embeddings;
  ServingFile file;
  file.version = version;
  file.trained_segment = outcome.segment;
  file.dim = emb.dim;
  file.num_users = emb.num_users;
  file.num_items = emb.num_items;
  file.users = emb.users;
  file.items = emb.items;
  file.views = emb.views;
  file.user_view_weights = emb.user_view_weights;
  if (absl::Status s = WriteServingFile(model_dir_.serving_file(), file); !s.ok()) return s;
  if (models_) {
    // Published (and the head moved) before this replica serves it: a lost lease publishes nothing.
    if (absl::Status s = PublishTrained(version, outcome.segment); !s.ok()) return s;
  }

  TrainingSummary summary;
  summary.present = true;
  summary.segment = outcome.segment;
  summary.model_version = version;
  summary.mode = model::TrainModeName(outcome.report.mode);
  summary.epochs = static_cast<uint32_t>(outcome.report.epochs);
  summary.final_loss = static_cast<float>(outcome.report.final_loss);
  summary.valid_recall20 = static_cast<float>(outcome.report.best_valid_recall20);
  summary.seconds = outcome.report.seconds;
  summary.finished_at = outcome.finished_at;
  if (absl::Status s = WriteTrainingSummary(model_dir_.training_summary(), summary); !s.ok()) {
    spdlog::warn("training summary: {}", s.ToString());
  }
  if (absl::Status s = AppendTrainingHistory(model_dir_.training_history(), summary); !s.ok()) {
    spdlog::warn("{}", s.ToString());
  }
  if (absl::Status s = PublishRepresentations(version, outcome.segment, emb.dim, emb.num_users,
                                              std::move(emb.users), emb.num_items, std::move(emb.items), emb.views,
                                              std::move(emb.user_view_weights));
      !s.ok()) {
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    last_training_ = summary;
    training_history_.push_back(summary);
    if (training_history_.size() > kTrainingHistoryKept) training_history_.erase(training_history_.begin());
  }
  trainings_.fetch_add(1);
  if (metrics_) {
    metrics_->trainings->Increment();
    metrics_->last_training_seconds->Set(summary.seconds);
    metrics_->last_training_loss->Set(summary.final_loss);
    metrics_->last_training_recall20->Set(summary.valid_recall20);
  }
  spdlog::info("model version {} serving (segment {}, {}, {} epochs, loss {:.4f}, valid Recall@20 {:.4f}, {:.1f} s)",
               version, outcome.segment, summary.mode, summary.epochs, summary.final_loss, summary.valid_recall20,
               summary.seconds);
  return absl::OkStatus();
}

absl::Status Engine::InstallModel(const test_support::SyntheticModel& model, uint64_t version) {
  // As if trained through the open segment: known users are served from their rows, new users fold in.
  const int64_t trained = store_->OpenSegment().index;
  return PublishRepresentations(version, trained, model.dim, model.num_users, model.users, model.num_items,
                                model.items, model.views, model.user_view_weights);
}

}  // namespace gpt4rec::server
