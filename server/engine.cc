// Engine: Open, Stop, ingest, segment closes, stats and DeleteUser (the other methods: see engine.h).
#include "server/engine.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/serving_file.h"
#include "spdlog/spdlog.h"
#include "util/fnv1a.h"

namespace gpt4rec::server {

Engine::Engine(const ServerOptions& options, Metrics* metrics) : options_(options), metrics_(metrics) {
  if (options_.online_max_users > 0) {
    online_ = std::make_unique<OnlineHitRate>(options_.online_max_users,
                                              std::max<int64_t>(1, options_.online_window_s) * 1000, metrics_);
  }
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const ServerOptions& options, Metrics* metrics) {
  std::unique_ptr<Engine> engine(new Engine(options, metrics));
  if (absl::Status s = engine->Init(); !s.ok()) return s;
  return engine;
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stop_cv_.notify_all();
  if (cluster_) cluster_->Stop();  // first: the applier writes through the trainer and the store
  if (refresher_.joinable()) refresher_.join();
  if (batcher_) batcher_->Stop();
  if (trainer_) trainer_->Stop();
  if (store_) {
    if (absl::Status s = store_->Flush(); !s.ok()) spdlog::error("storage flush: {}", s.ToString());
  }
}

absl::StatusOr<storage::AppendResult> Engine::Ingest(const std::vector<storage::Event>& events,
                                                     uint64_t* log_sequence) {
  if (cluster_) return cluster_->Ingest(events, log_sequence);
  return StoreBatch(events, 0);
}

absl::StatusOr<storage::AppendResult> Engine::ApplyEvents(const std::vector<storage::Event>& events,
                                                          uint64_t sequence) {
  auto result = StoreBatch(events, sequence);
  // Refused by validation (cannot happen for entries this server published): recorded as applied, skipped
  // alike on every replica.
  if (absl::IsInvalidArgument(result.status())) {
    if (absl::Status s = store_->RecordPosition(sequence); !s.ok()) return s;
  }
  return result;
}

absl::Status Engine::ApplyNothing(uint64_t sequence) { return store_->RecordPosition(sequence); }

void Engine::WhenApplied(uint64_t sequence, std::chrono::steady_clock::time_point deadline,
                         std::function<void(bool)> done) {
  if (cluster_) return cluster_->WhenApplied(sequence, deadline, std::move(done));
  done(last_sequence_.load() >= sequence);  // single process: acknowledged means stored
}

// position 0: single process (no log position recorded).
absl::StatusOr<storage::AppendResult> Engine::StoreBatch(const std::vector<storage::Event>& events,
                                                         uint64_t position) {
  // Test-then-learn: each event is tested against the list its user was last served before the batch changes
  // anything (a list served after this point was ranked with the batch stored), and counted once it is stored.
  std::vector<OnlineHitRate::Verdict> verdicts;
  if (online_) {
    std::vector<std::pair<std::string_view, std::string_view>> user_item;
    user_item.reserve(events.size());
    for (const auto& e : events) user_item.emplace_back(e.user_id, e.item_id);
    verdicts = online_->Test(user_item);
  }
  auto result = position > 0 ? store_->AppendBatchAt(events, position) : store_->AppendBatch(events);
  if (result.ok() && !verdicts.empty()) online_->Count(verdicts, StoredMask(events, *result));
  if (!result.ok()) {
    // Disk full (or another write error): storage's status already names the cause and maps 1:1 onto the
    // gRPC code (RESOURCE_EXHAUSTED / UNAVAILABLE); nothing of the batch was applied.
    if (absl::IsResourceExhausted(result.status()) || absl::IsUnavailable(result.status())) {
      if (metrics_) metrics_->ingest_storage_refused->Increment();
      NoteStorageWritable(result.status());
    }
    return result.status();
  }
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

// Which events of a stored batch were stored (not skipped as a repeated event_id). Only a batch with some
// duplicates and some new events needs a look: its new events are the store's sequences
// (last_sequence - appended, last_sequence], matched to the batch's events by (user, item) — events with the
// same pair have the same verdict, so which of them was the duplicate does not matter.
std::vector<bool> Engine::StoredMask(const std::vector<storage::Event>& events,
                                     const storage::AppendResult& result) const {
  if (result.duplicates == 0) return std::vector<bool>(events.size(), true);
  std::vector<bool> stored(events.size(), false);
  if (result.appended == 0) return stored;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> appended;
  const uint64_t from = result.last_sequence - result.appended + 1;
  absl::Status s = store_->ScanEvents(from, result.last_sequence + 1, [&](const storage::StoredEvent& e) {
    ++appended[{e.user, e.item}];
    return true;
  });
  if (!s.ok()) {
    spdlog::warn("online hit rate: batch with duplicates not counted: {}", s.ToString());
    return stored;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const auto user = store_->FindUser(events[i].user_id);
    const auto item = store_->FindItem(events[i].item_id);
    if (!user || !item) continue;
    auto it = appended.find({*user, *item});
    if (it == appended.end() || it->second == 0) continue;
    --it->second;
    stored[i] = true;
  }
  return stored;
}

void Engine::OnStorageWritableChange(std::function<void(bool writable)> on_change) {
  std::lock_guard<std::mutex> lock(storage_state_mu_);
  on_storage_change_ = std::move(on_change);
}

void Engine::CheckStorageWritable() { NoteStorageWritable(store_->WritableStatus()); }

void Engine::NoteStorageWritable(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(storage_state_mu_);
  if (metrics_) metrics_->storage_writable->Set(status.ok() ? 1 : 0);
  if (status.ok() == storage_writable_) return;
  storage_writable_ = status.ok();
  if (status.ok())
    spdlog::warn("storage accepts writes again; Ingest resumes (health gpt4rec.v1.Recommender/Ingest: SERVING)");
  else
    spdlog::error("{} — Ingest, CloseSegment, DeleteUser and Snapshot are refused, Recommend keeps serving "
                  "(health gpt4rec.v1.Recommender/Ingest: NOT_SERVING)",
                  status.ToString());
  if (on_storage_change_) on_storage_change_(storage_writable_);
}

absl::StatusOr<storage::SegmentInfo> Engine::CloseSegment() {
  if (cluster_) return cluster_->CloseSegment();
  return ApplyCloseSegment(0);
}

absl::StatusOr<storage::SegmentInfo> Engine::ApplyCloseSegment(uint64_t sequence) {
  auto info = sequence > 0 ? store_->CloseSegmentAt(sequence) : store_->CloseSegment();
  if (!info.ok()) return info.status();
  spdlog::info("segment {} closed ({} events); queued for training", info->index, info->events);
  trainer_->TrainThrough(info->index);
  return info;
}

EngineStats Engine::GetStats(bool with_digest) const {
  EngineStats stats;
  if (cluster_) {
    stats.role = models_ && models_->holds() ? "leader" : "follower";
    stats.applied_sequence = cluster_->applied();
    stats.log_last_sequence = cluster_->log_last_sequence();
    stats.log_connected = cluster_->connected();
  }
  if (with_digest) stats.graph_digest = GraphDigest();
  stats.trainings = trainings_.load();
  if (online_) stats.online = online_->Snapshot();
  stats.counts = store_->GetCounts();
  stats.open_segment = store_->OpenSegment();
  stats.closed_segments = static_cast<uint32_t>(store_->ClosedSegments().size());
  stats.model_version = serving()->version;
  stats.training_queue = trainer_->queued();
  stats.training_now = trainer_->training_now();
  stats.training_error = trainer_->last_error();
  std::lock_guard<std::mutex> lock(summary_mu_);
  stats.last_training = last_training_;
  return stats;
}

absl::StatusOr<storage::DeleteResult> Engine::DeleteUser(const std::string& user_id) {
  if (cluster_) return cluster_->DeleteUser(user_id);
  return DeleteLocally(user_id);
}

// DeleteUser is idempotent, so the position is recorded after it: a crash in between re-applies it harmlessly.
absl::StatusOr<storage::DeleteResult> Engine::ApplyDeleteUser(const std::string& user_id, uint64_t sequence) {
  auto result = DeleteLocally(user_id);
  if (!result.ok()) return result;
  if (absl::Status s = store_->RecordPosition(sequence); !s.ok()) return s;
  if (result->deleted) {
    if (absl::Status s = RepublishAfterErasure(); !s.ok()) {  // the delete itself is applied: not an error
      spdlog::warn("deleted user {}: the cluster's published model keeps their row until the next publication ({})",
                   user_id, s.ToString());
    }
  }
  return result;
}

// Order-sensitive on purpose: replicas that applied the same log in the same order assign the same dense ids.
// FNV-1a 64 with the published offset basis (util/fnv1a.h; it used to start from 1469598103934665603, the basis
// with its last digit missing: still a hash, but not the FNV-1a its comment named).
uint64_t Engine::GraphDigest() const {
  util::Fnv1a64Hasher hasher;
  auto mix = [&hasher](const void* data, size_t n) { hasher.Mix(data, n); };
  auto mix_u64 = [&mix](uint64_t v) { mix(&v, sizeof v); };
  const uint32_t users = store_->UserIdSpace();
  for (uint32_t u = 0; u < users; ++u) {
    auto name = store_->UserName(u);
    if (!name.ok()) continue;  // deleted
    mix(name->data(), name->size());
    for (const storage::EdgeInfo& e : store_->UserItems(u)) {
      auto item = store_->ItemName(e.other);
      if (item.ok()) mix(item->data(), item->size());
      mix_u64(e.count);
      mix_u64(static_cast<uint64_t>(e.first_time));
      mix_u64(static_cast<uint64_t>(e.last_time));
      mix_u64(e.first_segment);
      mix_u64(e.last_segment);
    }
  }
  for (const storage::SegmentInfo& s : store_->ClosedSegments()) {
    mix_u64(s.first_sequence);
    mix_u64(s.end_sequence);
  }
  mix_u64(store_->GetCounts().events);
  return hasher.value();
}

absl::StatusOr<storage::DeleteResult> Engine::DeleteLocally(const std::string& user_id) {
  const auto user = store_->FindUser(user_id);
  auto result = store_->DeleteUser(user_id);
  if (result.ok() && result->deleted && online_) online_->Erase(user_id);  // the list served to them, too
  if (!result.ok() || !result->deleted || !user) return result;
  // Serving tables: replace them by tables whose row for this user is zero, and persist them, so neither
  // memory nor <data_dir>/model/serving.bin keeps the user's representation; the model zeroes its rows and the
  // checkpoint is rewritten (each replica does this in its own files when it applies the delete).
  std::lock_guard<std::mutex> files_lock(trainer_->files_mutex());
  if (absl::Status s = trainer_->EraseUser(static_cast<int32_t>(*user)); !s.ok()) {
    return absl::InternalError(absl::StrCat("user deleted from the graph, but model checkpoint: ", s.message()));
  }
  auto tables = serving();
  if (static_cast<int32_t>(*user) < tables->num_users) {
    auto users = std::make_shared<std::vector<float>>(*tables->users);
    std::fill_n(users->begin() + static_cast<size_t>(*user) * tables->dim, tables->dim, 0.0f);
    auto next = std::make_shared<ServingTables>(*tables);
    next->users = users;
    if (tables->views > 0 && tables->user_view_weights) {  // and their view weights
      auto weights = std::make_shared<std::vector<float>>(*tables->user_view_weights);
      std::fill_n(weights->begin() + static_cast<size_t>(*user) * tables->views, tables->views, 0.0f);
      next->user_view_weights = weights;
    }
    if (tables->version > 0) {
      ServingFile file;
      file.version = tables->version;
      file.trained_segment = tables->trained_segment;
      file.dim = tables->dim;
      file.num_users = tables->num_users;
      file.num_items = tables->num_items();
      file.users = *users;
      file.items = tables->items->packed.rows;
      file.views = next->views;
      if (next->views > 0) file.user_view_weights = *next->user_view_weights;
      if (absl::Status s = WriteServingFile(model_dir_.serving_file(), file); !s.ok()) {
        return absl::InternalError(absl::StrCat("user deleted from the graph, but serving file: ", s.message()));
      }
    }
    std::lock_guard<std::mutex> lock(publish_mu_);
    std::atomic_store(&serving_, std::shared_ptr<const ServingTables>(std::move(next)));
  }
  return result;
}

bool Engine::WaitForTrainingIdle(int timeout_ms) { return trainer_->WaitIdle(timeout_ms); }

}  // namespace gpt4rec::server
