#include "server/engine.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace fs = std::filesystem;
namespace {

constexpr char kCheckpointFile[] = "model.ckpt";
constexpr char kServingFile[] = "serving.bin";
constexpr char kSummaryFile[] = "last_training.json";

absl::Status WriteSummary(const std::string& path, const TrainingSummary& s) {
  nlohmann::json j = {{"segment", s.segment},   {"model_version", s.model_version}, {"mode", s.mode},
                      {"epochs", s.epochs},     {"final_loss", s.final_loss},       {"valid_recall20", s.valid_recall20},
                      {"seconds", s.seconds},   {"finished_at", s.finished_at}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

TrainingSummary ReadSummary(const std::string& path) {
  TrainingSummary s;
  std::ifstream in(path);
  if (!in) return s;
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return s;
  s.present = true;
  s.segment = j.value("segment", 0u);
  s.model_version = j.value("model_version", uint64_t{0});
  s.mode = j.value("mode", std::string());
  s.epochs = j.value("epochs", 0u);
  s.final_loss = j.value("final_loss", 0.0f);
  s.valid_recall20 = j.value("valid_recall20", 0.0f);
  s.seconds = j.value("seconds", 0.0);
  s.finished_at = j.value("finished_at", int64_t{0});
  return s;
}

// Last stored sequence: the largest end of any segment, minus one.
uint64_t LastSequence(const storage::GraphStore& store) {
  uint64_t end = store.OpenSegment().end_sequence;
  for (const auto& s : store.ClosedSegments()) end = std::max(end, s.end_sequence);
  return end > 0 ? end - 1 : 0;
}

}  // namespace

Engine::Engine(const ServerOptions& options, Metrics* metrics) : options_(options), metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const ServerOptions& options, Metrics* metrics) {
  std::unique_ptr<Engine> engine(new Engine(options, metrics));
  if (absl::Status s = engine->Init(); !s.ok()) return s;
  return engine;
}

Engine::~Engine() { Stop(); }

absl::Status Engine::Init() {
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  std::error_code ec;
  model_dir_ = (fs::path(options_.data_dir) / "model").string();
  fs::create_directories(model_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", model_dir_, ": ", ec.message()));

  auto policy = storage::ParseSegmentPolicy(options_.segment);
  if (!policy.ok()) return absl::InvalidArgumentError(absl::StrCat("--segment: ", policy.status().message()));
  storage::StoreOptions store_options;
  store_options.sync = options_.sync_wal;
  store_options.segments = *policy;
  auto store = storage::GraphStore::Open((fs::path(options_.data_dir) / "graph").string(), store_options);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  last_sequence_ = LastSequence(*store_);

  // The model: the last checkpoint, or a fresh one. A checkpoint's own config wins over the flags.
  const std::string ckpt = (fs::path(model_dir_) / kCheckpointFile).string();
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

  // Serving representations: the persisted file, else re-exported from the checkpoint, else none (version 0).
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    last_training_ = ReadSummary((fs::path(model_dir_) / kSummaryFile).string());
  }
  const std::string serving_path = (fs::path(model_dir_) / kServingFile).string();
  auto file = ReadSnapshotFile(serving_path);
  const int64_t model_segment = static_cast<int64_t>(model->segments_seen()) - 1;
  if (file.ok() && file->trained_segment >= model_segment) {
    if (absl::Status s = PublishRepresentations(file->version, file->trained_segment, file->dim, file->num_users,
                                                std::move(file->users), file->num_items, std::move(file->items));
        !s.ok()) {
      return s;
    }
    spdlog::info("serving model version {} (segment {}) restored from {}", snapshot()->version,
                 snapshot()->trained_segment, serving_path);
  } else if (model_segment >= 0) {
    auto emb = model->ExportEmbeddings();
    if (!emb.ok()) return absl::InternalError(absl::StrCat("re-export from checkpoint: ", emb.status().message()));
    const uint64_t version = file.ok() ? file->version + 1 : static_cast<uint64_t>(model_segment + 1);
    if (absl::Status s = PublishRepresentations(version, model_segment, emb->dim, emb->num_users,
                                                std::move(emb->users), emb->num_items, std::move(emb->items));
        !s.ok()) {
      return s;
    }
  } else {
    auto empty = std::make_shared<ServingSnapshot>();
    empty->items = std::make_shared<ItemTable>();
    empty->users = std::make_shared<std::vector<float>>();
    std::atomic_store(&snapshot_, std::shared_ptr<const ServingSnapshot>(std::move(empty)));
  }
  if (metrics_) metrics_->model_version->Set(static_cast<double>(snapshot()->version));

  SegmentTrainerOptions trainer_options;
  trainer_options.checkpoint_path = ckpt;
  trainer_options.valid_fraction = options_.valid_fraction;
  trainer_options.split_seed = options_.split_seed;
  trainer_ = std::make_unique<SegmentTrainer>(
      store_.get(), std::move(model), trainer_options,
      [this](TrainingOutcome&& outcome) { return OnTrained(std::move(outcome)); },
      [this](uint32_t segment, const model::EpochLog& log) {
        spdlog::info("segment {} epoch {}: loss {:.4f} valid Recall@20 {:.4f} ({:.1f} s)", segment, log.epoch,
                     log.loss, log.valid_recall20, log.seconds);
        if (metrics_) metrics_->training_epoch->Set(log.epoch);
      });
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
  batcher_ = std::make_unique<MicroBatcher>(batcher_options);

  RefreshPopular();
  RefreshNewItems();
  refresher_ = std::thread([this] { RefreshLoop(); });
  return absl::OkStatus();
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (batcher_) batcher_->Stop();
  if (trainer_) trainer_->Stop();
  if (store_) {
    if (absl::Status s = store_->Flush(); !s.ok()) spdlog::error("storage flush: {}", s.ToString());
  }
}

absl::Status Engine::PublishRepresentations(uint64_t version, int64_t trained_segment, int32_t dim,
                                            int32_t num_users, std::vector<float> users, int32_t num_items,
                                            std::vector<float> items) {
  if (dim <= 0 || users.size() != static_cast<size_t>(num_users) * dim ||
      items.size() != static_cast<size_t>(num_items) * dim) {
    return absl::InvalidArgumentError("representations: matrix sizes disagree with dim/num_users/num_items");
  }
  auto table = std::make_shared<ItemTable>();
  table->dim = dim;
  table->packed = PackItems(items.data(), num_items, dim);
  table->names.resize(num_items);
  for (int32_t i = 0; i < num_items; ++i) {
    auto name = store_->ItemName(static_cast<uint32_t>(i));
    if (name.ok()) table->names[i] = std::move(*name);
  }
  auto snap = std::make_shared<ServingSnapshot>();
  snap->version = version;
  snap->trained_segment = trained_segment;
  snap->dim = dim;
  snap->num_users = num_users;
  snap->users = std::make_shared<const std::vector<float>>(std::move(users));
  snap->items = std::move(table);
  std::lock_guard<std::mutex> lock(publish_mu_);
  std::atomic_store(&snapshot_, std::shared_ptr<const ServingSnapshot>(std::move(snap)));
  if (metrics_) metrics_->model_version->Set(static_cast<double>(version));
  return absl::OkStatus();
}

absl::Status Engine::OnTrained(TrainingOutcome&& outcome) {
  const uint64_t version = snapshot()->version + 1;
  auto& emb = outcome.embeddings;
  SnapshotFile file;
  file.version = version;
  file.trained_segment = outcome.segment;
  file.dim = emb.dim;
  file.num_users = emb.num_users;
  file.num_items = emb.num_items;
  file.users = emb.users;
  file.items = emb.items;
  if (absl::Status s = WriteSnapshotFile((fs::path(model_dir_) / kServingFile).string(), file); !s.ok()) return s;

  TrainingSummary summary;
  summary.present = true;
  summary.segment = outcome.segment;
  summary.model_version = version;
  summary.mode = outcome.report.mode;
  summary.epochs = static_cast<uint32_t>(outcome.report.epochs);
  summary.final_loss = static_cast<float>(outcome.report.final_loss);
  summary.valid_recall20 = static_cast<float>(outcome.report.best_valid_recall20);
  summary.seconds = outcome.report.seconds;
  summary.finished_at = outcome.finished_at;
  if (absl::Status s = WriteSummary((fs::path(model_dir_) / kSummaryFile).string(), summary); !s.ok()) {
    spdlog::warn("training summary: {}", s.ToString());
  }
  if (absl::Status s = PublishRepresentations(version, outcome.segment, emb.dim, emb.num_users,
                                              std::move(emb.users), emb.num_items, std::move(emb.items));
      !s.ok()) {
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(summary_mu_);
    last_training_ = summary;
  }
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

absl::StatusOr<storage::AppendResult> Engine::Ingest(const std::vector<storage::Event>& events) {
  auto result = store_->AppendBatch(events);
  if (!result.ok()) return result.status();
  uint64_t prev = last_sequence_.load();
  while (result->last_sequence > prev && !last_sequence_.compare_exchange_weak(prev, result->last_sequence)) {
  }
  if (!result->closed_segments.empty()) {
    const uint32_t last = *std::max_element(result->closed_segments.begin(), result->closed_segments.end());
    spdlog::info("segment {} closed by event time; queued for training", last);
    trainer_->TrainThrough(last);
  }
  return result;
}

absl::StatusOr<storage::SegmentInfo> Engine::CloseSegment() {
  auto info = store_->CloseSegment();
  if (!info.ok()) return info.status();
  spdlog::info("segment {} closed ({} events); queued for training", info->index, info->events);
  trainer_->TrainThrough(info->index);
  return info;
}

RecResult Engine::Popular(const std::vector<uint32_t>& exclude, uint32_t k, uint64_t version) const {
  RecResult result;
  result.model_version = version;
  result.source = RecSource::kPopular;
  auto popular = std::atomic_load(&popular_);
  auto snap = snapshot();
  for (const auto& [item, count] : popular->items) {
    if (result.items.size() >= k) break;
    if (std::binary_search(exclude.begin(), exclude.end(), item)) continue;
    std::string name;
    if (static_cast<int32_t>(item) < snap->num_items() && !snap->items->names[item].empty()) {
      name = snap->items->names[item];
    } else {
      auto n = store_->ItemName(item);
      if (!n.ok()) continue;  // deleted meanwhile
      name = std::move(*n);
    }
    result.items.push_back({std::move(name), static_cast<float>(count)});
  }
  return result;
}

void Engine::Recommend(const std::string& user_id, uint32_t k, const std::vector<std::string>& exclude_item_ids,
                       bool include_seen, RecDone done) {
  auto snap = snapshot();
  std::vector<uint32_t> exclude;
  exclude.reserve(exclude_item_ids.size());
  for (const auto& id : exclude_item_ids) {
    if (auto item = store_->FindItem(id)) exclude.push_back(*item);
  }
  const auto user = store_->FindUser(user_id);
  std::vector<storage::EdgeInfo> edges;
  if (user) edges = store_->UserItems(*user);
  if (!include_seen) {
    for (const auto& e : edges) exclude.push_back(e.other);
  }
  std::sort(exclude.begin(), exclude.end());
  exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());
  if (!user || snap->num_items() == 0) return done(Popular(exclude, k, snap->version));

  // The trained row is current unless the user gained edges after the model's last segment; then fold in:
  // the mean of the trained representations of every item the user touched (LightGCN's user representation is
  // itself a normalised sum over its items, so the mean lives in the same space and needs no training).
  const bool changed = std::any_of(edges.begin(), edges.end(), [&](const storage::EdgeInfo& e) {
    return static_cast<int64_t>(e.first_segment) > snap->trained_segment;
  });
  std::vector<float> query(snap->dim, 0.0f);
  RecSource source;
  if (!changed && static_cast<int32_t>(*user) < snap->num_users) {
    const float* row = snap->user_row(*user);
    std::copy(row, row + snap->dim, query.begin());
    source = RecSource::kModel;
  } else {
    int touched = 0;
    for (const auto& e : edges) {
      if (static_cast<int32_t>(e.other) >= snap->num_items()) continue;  // an item the model has not seen yet
      const float* row = snap->items->row(e.other);
      for (int32_t d = 0; d < snap->dim; ++d) query[d] += row[d];
      ++touched;
    }
    if (touched == 0) return done(Popular(exclude, k, snap->version));
    for (auto& x : query) x /= static_cast<float>(touched);
    source = RecSource::kFoldIn;
  }
  // Folded-in new items compete with the trained ones: score them here (few) and merge.
  auto fresh = std::atomic_load(&new_items_);
  std::vector<RecItem> fresh_scored;
  if (fresh && fresh->base == snap->items.get() && !fresh->ids.empty()) {
    for (size_t i = 0; i < fresh->ids.size(); ++i) {
      if (std::binary_search(exclude.begin(), exclude.end(), fresh->ids[i])) continue;
      const float* row = fresh->rows.data() + i * fresh->dim;
      float score = 0;
      for (int32_t d = 0; d < fresh->dim; ++d) score += query[d] * row[d];
      fresh_scored.push_back({fresh->names[i], score});
    }
  }
  // Runs on a scoring thread once the batch containing this request is ranked.
  auto finish = [snap, source, k, fresh_scored = std::move(fresh_scored),
                 done = std::move(done)](absl::StatusOr<std::vector<Scored>> ranked) mutable {
    if (!ranked.ok()) return done(ranked.status());
    RecResult result;
    result.model_version = snap->version;
    result.source = source;
    result.items.reserve(ranked->size() + fresh_scored.size());
    for (const auto& s : *ranked) {
      const std::string& name = snap->items->names[s.item];
      if (name.empty()) continue;  // no longer named by storage
      result.items.push_back({name, s.score});
    }
    if (!fresh_scored.empty()) {
      result.items.insert(result.items.end(), fresh_scored.begin(), fresh_scored.end());
      std::stable_sort(result.items.begin(), result.items.end(),
                       [](const RecItem& a, const RecItem& b) { return a.score > b.score; });
      if (result.items.size() > k) result.items.resize(k);
    }
    done(std::move(result));
  };
  batcher_->Submit(snap->items, std::move(query), k, std::move(exclude), std::move(finish));
}

EngineStats Engine::GetStats() const {
  EngineStats stats;
  stats.counts = store_->GetCounts();
  stats.open_segment = store_->OpenSegment();
  stats.closed_segments = static_cast<uint32_t>(store_->ClosedSegments().size());
  stats.model_version = snapshot()->version;
  stats.training_queue = trainer_->queued();
  stats.training_now = trainer_->training_now();
  std::lock_guard<std::mutex> lock(summary_mu_);
  stats.last_training = last_training_;
  return stats;
}

absl::StatusOr<storage::DeleteResult> Engine::DeleteUser(const std::string& user_id) {
  const auto user = store_->FindUser(user_id);
  auto result = store_->DeleteUser(user_id);
  if (!result.ok() || !result->deleted || !user) return result;
  // Serving tables: replace the snapshot by one whose row for this user is zero, and persist it, so neither
  // memory nor <data_dir>/model/serving.bin keeps the user's representation. (The model checkpoint still holds
  // the user's embedding row: the model contract has no per-row erase.)
  std::lock_guard<std::mutex> files_lock(trainer_->files_mutex());
  auto snap = snapshot();
  if (static_cast<int32_t>(*user) < snap->num_users) {
    auto users = std::make_shared<std::vector<float>>(*snap->users);
    std::fill_n(users->begin() + static_cast<size_t>(*user) * snap->dim, snap->dim, 0.0f);
    auto next = std::make_shared<ServingSnapshot>(*snap);
    next->users = users;
    if (snap->version > 0) {
      SnapshotFile file;
      file.version = snap->version;
      file.trained_segment = snap->trained_segment;
      file.dim = snap->dim;
      file.num_users = snap->num_users;
      file.num_items = snap->num_items();
      file.users = *users;
      file.items = snap->items->packed.rows;
      if (absl::Status s = WriteSnapshotFile((fs::path(model_dir_) / kServingFile).string(), file); !s.ok()) {
        return absl::InternalError(absl::StrCat("user deleted from the graph, but serving file: ", s.message()));
      }
    }
    std::lock_guard<std::mutex> lock(publish_mu_);
    std::atomic_store(&snapshot_, std::shared_ptr<const ServingSnapshot>(std::move(next)));
  }
  return result;
}

absl::StatusOr<SnapshotResult> Engine::Snapshot(const std::string& requested_dir) {
  std::string dir = requested_dir;
  if (dir.empty()) {
    dir = (fs::path(options_.data_dir) / "snapshots" / std::to_string(std::time(nullptr))).string();
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) return absl::AlreadyExistsError(absl::StrCat("dir: ", dir, " already exists"));
  fs::create_directories(fs::path(dir) / "model", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("dir: cannot create ", dir, ": ", ec.message()));
  if (absl::Status s = store_->Snapshot((fs::path(dir) / "graph").string()); !s.ok()) return s;
  SnapshotResult result;
  result.dir = dir;
  {
    // Model files are consistent with each other while the trainer cannot write them.
    std::lock_guard<std::mutex> lock(trainer_->files_mutex());
    for (const char* name : {kCheckpointFile, kServingFile, kSummaryFile}) {
      const fs::path from = fs::path(model_dir_) / name;
      if (!fs::exists(from)) continue;
      fs::copy_file(from, fs::path(dir) / "model" / name, ec);
      if (ec) return absl::InternalError(absl::StrCat("copy ", from.string(), ": ", ec.message()));
    }
    result.model_version = snapshot()->version;
  }
  result.events = store_->GetCounts().events;
  spdlog::info("snapshot written to {} ({} events, model version {})", dir, result.events, result.model_version);
  return result;
}

bool Engine::WaitForTrainingIdle(int timeout_ms) { return trainer_->WaitIdle(timeout_ms); }

absl::Status Engine::InstallModel(const SyntheticModel& model, uint64_t version) {
  // As if trained through the open segment: known users are served from their rows, new users fold in.
  const int64_t trained = store_->OpenSegment().index;
  return PublishRepresentations(version, trained, model.dim, model.num_users, model.users, model.num_items,
                                model.items);
}

void Engine::RefreshPopular() {
  const uint64_t last = last_sequence_.load();
  auto current = std::atomic_load(&popular_);
  if (current && current->through_sequence == last) return;
  const uint64_t window = std::max<uint64_t>(1, options_.popular_window_events);
  const uint64_t from = last >= window ? last - window + 1 : 1;
  std::unordered_map<uint32_t, uint32_t> counts;
  absl::Status s = store_->ScanEvents(from, last + 1, [&](const storage::StoredEvent& e) {
    ++counts[e.item];
    return true;
  });
  if (!s.ok()) {
    spdlog::warn("popular items: {}", s.ToString());
    if (current) return;
  }
  auto list = std::make_shared<PopularList>();
  list->through_sequence = last;
  list->items.assign(counts.begin(), counts.end());
  std::sort(list->items.begin(), list->items.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  // Enough for any k plus what an unknown user may exclude; the tail never reaches a reply.
  const size_t keep = static_cast<size_t>(options_.max_k) * 4 + 1000;
  if (list->items.size() > keep) list->items.resize(keep);
  std::atomic_store(&popular_, std::shared_ptr<const PopularList>(std::move(list)));
}

void Engine::RefreshNewItems() {
  auto snap = snapshot();
  const uint64_t last = last_sequence_.load();
  auto current = std::atomic_load(&new_items_);
  if (current && current->base == snap->items.get() && current->through_sequence == last) return;
  auto fresh = std::make_shared<NewItems>();
  fresh->base = snap->items.get();
  fresh->through_sequence = last;
  fresh->dim = snap->dim;
  const uint32_t space = store_->ItemIdSpace();
  if (snap->version > 0) {
    std::vector<float> mean(snap->dim);
    for (uint32_t item = static_cast<uint32_t>(snap->num_items()); item < space; ++item) {
      std::fill(mean.begin(), mean.end(), 0.0f);
      int users = 0;
      for (const auto& e : store_->ItemUsers(item)) {
        if (static_cast<int32_t>(e.other) >= snap->num_users) continue;  // a user the model has not seen
        const float* row = snap->user_row(e.other);
        for (int32_t d = 0; d < snap->dim; ++d) mean[d] += row[d];
        ++users;
      }
      if (users == 0) continue;
      auto name = store_->ItemName(item);
      if (!name.ok()) continue;
      for (auto& x : mean) x /= static_cast<float>(users);
      fresh->ids.push_back(item);
      fresh->rows.insert(fresh->rows.end(), mean.begin(), mean.end());
      fresh->names.push_back(std::move(*name));
    }
  }
  std::atomic_store(&new_items_, std::shared_ptr<const NewItems>(std::move(fresh)));
}

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
    last_cost = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (metrics_) {
      metrics_->training_queue->Set(trainer_->queued());
      metrics_->training_running->Set(trainer_->training_now() ? 1 : 0);
    }
    lock.lock();
  }
}

}  // namespace gpt4rec::server
