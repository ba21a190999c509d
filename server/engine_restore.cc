// Start-up restore: the graph store, the model checkpoint (or a fresh model), the serving tables (serving file,
// else re-exported from the checkpoint), the trainer with the closed segments it has not consumed, the
// micro-batcher and the refresh loop.
#include "server/engine.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/serving_file.h"
#include "server/snapshot_dir.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace fs = std::filesystem;
namespace {

// Last stored sequence: the largest end of any segment, minus one.
uint64_t LastSequence(const storage::GraphStore& store) {
  uint64_t end = store.OpenSegment().end_sequence;
  for (const auto& s : store.ClosedSegments()) end = std::max(end, s.end_sequence);
  return end > 0 ? end - 1 : 0;
}

}  // namespace

absl::Status Engine::Init() {
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  // Before anything is created: a directory that should hold a store but does not is refused, not emptied.
  if (absl::Status s = CheckDataDir(options_.data_dir); !s.ok()) return s;
  RemovePartialSnapshots(options_.data_dir);
  std::error_code ec;
  model_dir_.dir = (fs::path(options_.data_dir) / "model").string();
  fs::create_directories(model_dir_.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", model_dir_.dir, ": ", ec.message()));

  auto policy = storage::ParseSegmentPolicy(options_.segment);
  if (!policy.ok()) return absl::InvalidArgumentError(absl::StrCat("--segment: ", policy.status().message()));
  storage::StoreOptions store_options;
  store_options.sync = options_.sync_wal;
  store_options.min_free_disk_bytes = options_.min_free_disk_mb << 20;
  store_options.event_id_window = options_.event_id_window;
  store_options.segments = *policy;
  auto store = storage::GraphStore::Open((fs::path(options_.data_dir) / "graph").string(), store_options);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  last_sequence_ = LastSequence(*store_);

  // The model: the last checkpoint, or a fresh one. A checkpoint's own config wins over the flags.
  const std::string ckpt = model_dir_.checkpoint();
  std::unique_ptr<model::RecommenderModel> model;
  if (fs::exists(ckpt)) {
    auto loaded = model::RecommenderModel::Load(ckpt);
    if (!loaded.ok()) return absl::InternalError(absl::StrCat("model checkpoint ", ckpt, ": ", loaded.status().message()));
    model = std::move(*loaded);
    spdlog::info("model checkpoint {} loaded: {} segments seen, strategy {}", ckpt, model->segments_seen(),
                 model::StrategyName(model->config().strategy));
  } else {
    auto created = model::RecommenderModel::Create(options_.model);
    if (!created.ok()) return created.status();
    model = std::move(*created);
  }

  // Serving tables: from the serving file, else re-exported from the checkpoint, else empty (version 0).
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    last_training_ = ReadTrainingSummary(model_dir_.training_summary());
    training_history_ = ReadTrainingHistory(model_dir_.training_history(), kTrainingHistoryKept);
    // A data directory from before the history file: its last training is all there is.
    if (training_history_.empty() && last_training_.present) training_history_.push_back(last_training_);
  }
  const std::string serving_path = model_dir_.serving_file();
  auto file = ReadServingFile(serving_path);
  const int64_t model_segment = static_cast<int64_t>(model->segments_seen()) - 1;
  if (absl::Status s = EraseDeletedRowsAtStart(*store_, model.get(), ckpt, file.ok() ? &*file : nullptr, serving_path);
      !s.ok()) {
    return absl::InternalError(absl::StrCat("erasing deleted users' rows at start-up: ", s.message()));
  }
  if (file.ok() && file->trained_segment >= model_segment) {
    if (file->views == 0) {
      spdlog::info("{}: serving file without view weights (format 1): explanations report uniform view weights "
                   "until the next training", serving_path);
    }
    if (absl::Status s = PublishRepresentations(file->version, file->trained_segment, file->dim, file->num_users,
                                                std::move(file->users), file->num_items, std::move(file->items),
                                                file->views, std::move(file->user_view_weights));
        !s.ok()) {
      return s;
    }
    spdlog::info("serving model version {} (segment {}) restored from {}", serving()->version,
                 serving()->trained_segment, serving_path);
  } else if (model_segment >= 0) {
    auto emb = model->ExportEmbeddings();
    if (!emb.ok()) return absl::InternalError(absl::StrCat("re-export from checkpoint: ", emb.status().message()));
    const uint64_t version = file.ok() ? file->version + 1 : static_cast<uint64_t>(model_segment + 1);
    if (absl::Status s = PublishRepresentations(version, model_segment, emb->dim, emb->num_users,
                                                std::move(emb->users), emb->num_items, std::move(emb->items),
                                                emb->views, std::move(emb->user_view_weights));
        !s.ok()) {
      return s;
    }
  } else {
    auto empty = std::make_shared<ServingTables>();
    empty->items = std::make_shared<ItemTable>();
    empty->users = std::make_shared<std::vector<float>>();
    std::atomic_store(&serving_, std::shared_ptr<const ServingTables>(std::move(empty)));
  }
  if (metrics_) metrics_->model_version->Set(static_cast<double>(serving()->version));

  SegmentTrainerOptions trainer_options;
  trainer_options.checkpoint_path = ckpt;
  trainer_options.valid_fraction = options_.valid_fraction;
  trainer_options.split_seed = options_.split_seed;
  SegmentTrainer::GateFn gate;
  if (!options_.log.empty()) {
    // Cluster mode: one trainer at a time, by the lease; the others adopt what it publishes.
    cluster::ModelChannelOptions channel;
    auto servers = cluster::ParseServers(options_.log);
    if (!servers.ok()) return servers.status();
    channel.log.servers = std::move(*servers);
    channel.log.stream = options_.log_stream;
    channel.log.replicas = options_.log_replicas;
    channel.log.publish_timeout_ms = options_.log_publish_timeout_ms;
    channel.log.credentials_file = options_.log_credentials;
    channel.log.ca_file = options_.log_ca;
    channel.log.client_name = "gpt4rec-trainer";
    channel.lease_ttl_ms = options_.trainer_lease_ms;
    channel.holder = absl::StrCat(options_.data_dir, "@", ::getpid(), "#", std::random_device{}());
    auto models = cluster::ModelChannel::Open(channel);
    if (!models.ok()) return models.status();
    models_ = std::move(*models);
    auto adopted = AdoptPublishedAtStart(model_segment);
    if (!adopted.ok()) {
      spdlog::warn("start-up: adopting the cluster's published model: {}; serving the local model files",
                   adopted.status().ToString());
    } else if (*adopted) {
      model = std::move(*adopted);
      if (metrics_) metrics_->model_version->Set(static_cast<double>(serving()->version));
    }
    gate = [this](uint32_t segment, const std::atomic<bool>& cancel) { return TrainOrAdopt(segment, cancel); };
  }
  trainer_ = std::make_unique<SegmentTrainer>(
      store_.get(), std::move(model), trainer_options,
      [this](TrainingOutcome&& outcome) { return OnTrained(std::move(outcome)); },
      [this](uint32_t segment, const model::EpochLog& log) {
        spdlog::info("segment {} epoch {}: loss {:.4f} valid Recall@20 {:.4f} ({:.1f} s)", segment, log.epoch,
                     log.loss, log.valid_recall20, log.seconds);
        if (metrics_) metrics_->training_epoch->Set(log.epoch);
      },
      std::move(gate));
  // Segments closed before a restart (or a crash mid-training) that the model has not consumed yet.
  const auto closed = store_->ClosedSegments();
  if (!closed.empty() && static_cast<int64_t>(closed.back().index) > trainer_->trained_segment()) {
    spdlog::info("queueing closed segments {}..{} for training", trainer_->trained_segment() + 1,
                 closed.back().index);
    trainer_->TrainThrough(closed.back().index);
  }

  MicroBatcherOptions batcher_options;
  batcher_options.threads = options_.scoring_threads;
  batcher_options.max_batch = options_.max_batch;
  batcher_options.window_us = options_.batch_window_us;
  batcher_options.max_pending = options_.max_pending_recommend;
  batcher_options.max_queue_ms = options_.max_queue_ms;
  batcher_ = std::make_unique<MicroBatcher>(batcher_options);

  RefreshPopular();
  RefreshNewItems();
  refresher_ = std::thread([this] { RefreshLoop(); });
  if (!options_.log.empty()) {
    auto cluster = ClusterReplica::Start(options_, this, metrics_, store_->AppliedPosition());
    if (!cluster.ok()) return cluster.status();
    cluster_ = std::move(*cluster);
  }
  return absl::OkStatus();
}

}  // namespace gpt4rec::server
