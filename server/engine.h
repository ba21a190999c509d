// The service's logic without gRPC: storage, trainer, serving tables, fold-in, popularity, micro-batching.
// The gRPC layer (recommender_service.cc) maps protos onto these calls and adds auth, limits and metrics.
//
// Data directory layout:
//   <data_dir>/graph/                 RocksDB graph store
//   <data_dir>/model/                 model checkpoint, serving file, training summary (server/model_dir.h)
//   <data_dir>/snapshots/<unix time>[-n]/ backups written by the Snapshot RPC (same layout: graph/ and model/,
//                                     plus SNAPSHOT_COMPLETE; server/snapshot_dir.h)
//
// Engine's methods live in one file per concern:
//   engine.cc                Open, Stop, ingest, segments, stats, DeleteUser
//   engine_restore.cc        start-up: store, model checkpoint, serving tables, trainer, catch-up training
//   engine_serving_tables.cc building and publishing serving tables (after training, at install)
//   engine_fold_in.cc        Recommend: trained row or fold-in query, folded-in new items
//   engine_dashboard.cc      what the dashboard reads besides GetStats: training history, a user's recent items
//   engine_explain.cc        explanations of a ranked reply (RecommendRequest.explain; server/explain.h)
//   engine_popular.cc        the popular list and popularity replies
//   engine_refresh.cc        the background loop that refreshes both
//   engine_backup.cc         the backup directory (Snapshot RPC)
//   engine_cluster_model.cc  cluster mode: the trainer lease, publishing a trained model, adopting a published one
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/model_channel.h"
#include "model/recommender_model.h"
#include "server/cluster_replica.h"
#include "server/explain.h"
#include "server/metrics.h"
#include "server/micro_batcher.h"
#include "server/segment_trainer.h"
#include "server/model_dir.h"
#include "server/online_hit_rate.h"
#include "server/service.h"
#include "server/serving_tables.h"
#include "server/test_support.h"
#include "server/training_summary.h"
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
  std::optional<RecExplanation> explanation;  // only when asked for
};

struct EngineStats {
  storage::Counts counts;
  storage::SegmentInfo open_segment;
  uint32_t closed_segments = 0;
  uint64_t model_version = 0;
  uint32_t training_queue = 0;
  bool training_now = false;
  std::string training_error;  // SegmentTrainer::last_error
  TrainingSummary last_training;
  // Cluster mode (all zero / "single" otherwise).
  std::string role = "single";     // "single" | "leader" (holds the trainer lease) | "follower"
  uint64_t applied_sequence = 0;   // last log entry applied to this replica's store
  uint64_t log_last_sequence = 0;  // the stream's last entry as last seen
  bool log_connected = false;
  uint64_t graph_digest = 0;       // only when asked for (GetStats(true))
  uint64_t trainings = 0;          // segments this process trained since it started (not adopted ones)
  OnlineSnapshot online;           // online hit rate (server/online_hit_rate.h)
};

// A backup directory written by Backup (the Snapshot RPC): a RocksDB checkpoint of the store plus copies of the
// model directory's files.
struct BackupResult {
  std::string dir;
  uint64_t events = 0;
  uint64_t model_version = 0;
};

// Erasure (engine_erasure.cc). The dense ids of the users the store has deleted (ids are never reused, so such a
// slot stays deleted; the store applied its log in order).
std::vector<uint32_t> DeletedUsers(const storage::GraphStore& store);
// Zeroes `users`' rows in `model` and in `file` (null: no serving file; users past its rows are skipped), then
// saves the model to `checkpoint_path` and, when a row of it changed, the file to `serving_path`. False: `users`
// is empty and nothing was written.
struct ServingFile;
absl::StatusOr<bool> EraseUsersInModelFiles(const std::vector<uint32_t>& users, model::RecommenderModel* model,
                                            const std::string& checkpoint_path, ServingFile* file,
                                            const std::string& serving_path);
// At start-up: zeroes, in `model` and `file` (null: no serving file), the rows of deleted users that a process
// killed during their erasure left behind, and rewrites both files; nothing is written when none is left.
absl::Status EraseDeletedRowsAtStart(const storage::GraphStore& store, model::RecommenderModel* model,
                                     const std::string& checkpoint_path, ServingFile* file,
                                     const std::string& serving_path);

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const ServerOptions& options, Metrics* metrics);
  ~Engine();

  // Stores a validated batch; queues segments it closed for training. Cluster mode: publishes it to the log
  // (`log_sequence`: its entry's sequence) and answers with this replica's apply of it.
  absl::StatusOr<storage::AppendResult> Ingest(const std::vector<storage::Event>& events,
                                               uint64_t* log_sequence = nullptr);
  // Read-your-writes (RecommendRequest.min_sequence): `done(reached)` once this replica has applied log entry
  // `sequence` (cluster mode) or stored event `sequence` (single process, always at once), or at `deadline`.
  void WhenApplied(uint64_t sequence, std::chrono::steady_clock::time_point deadline, std::function<void(bool)> done);
  // Cluster mode's applier (server/cluster_replica.h): one log entry each, its sequence recorded with its effect.
  absl::StatusOr<storage::AppendResult> ApplyEvents(const std::vector<storage::Event>& events, uint64_t sequence);
  absl::StatusOr<storage::SegmentInfo> ApplyCloseSegment(uint64_t sequence);
  absl::StatusOr<storage::DeleteResult> ApplyDeleteUser(const std::string& user_id, uint64_t sequence);
  absl::Status ApplyNothing(uint64_t sequence);
  using RecDone = std::function<void(absl::StatusOr<RecResult>)>;
  // k already bounded by the caller. `done` runs once: on this thread (popular replies, errors) or on a scoring
  // thread after the micro-batcher ranked the request; no thread waits in between. `deadline`: the caller's
  // (the micro-batcher refuses what it cannot score before it).
  struct RecOptions {
    bool include_seen = false;
    bool explain = false;  // also RecResult::explanation
    // false: not recorded as the list the user was last served (the dashboard's look at a user is no list the
    // user saw, so the online hit rate must not test their next events against it).
    bool served_to_user = true;
  };
  void Recommend(const std::string& user_id, uint32_t k, const std::vector<std::string>& exclude_item_ids,
                 const RecOptions& options, std::chrono::steady_clock::time_point deadline, RecDone done);
  absl::StatusOr<storage::SegmentInfo> CloseSegment();
  // The dashboard (engine_dashboard.cc): the trainings of this data directory, oldest first (at most
  // kTrainingHistoryKept), and a user's most recent items (external id, last interaction time), newest first.
  static constexpr size_t kTrainingHistoryKept = 1000;
  std::vector<TrainingSummary> TrainingHistory() const;
  std::vector<std::pair<std::string, int64_t>> RecentItems(const std::string& user_id, size_t n) const;
  // Every closed segment, then the open one.
  std::vector<storage::SegmentInfo> Segments() const;
  // with_digest: also a digest of the whole graph (ids, edges, segments; O(edges)), equal on replicas that
  // applied the same log.
  EngineStats GetStats(bool with_digest = false) const;
  absl::StatusOr<storage::DeleteResult> DeleteUser(const std::string& user_id);
  // `dir` empty: <data_dir>/snapshots/<unix time>.
  absl::StatusOr<BackupResult> Backup(const std::string& dir);

  // server/test_support.h
  bool WaitForTrainingIdle(int timeout_ms);
  absl::Status InstallModel(const test_support::SyntheticModel& model, uint64_t version);
  MicroBatcher* batcher() { return batcher_.get(); }
  // Drains scoring, interrupts a running training, stops background threads, flushes storage. Idempotent.
  void Stop();

  // Disk full: asks the store whether it accepts writes (storage's WritableStatus, which also retries its
  // recovery); keeps gpt4rec_storage_writable, logs each change, and calls `on_change` (the server's ingest
  // health) with it. Run by the refresh loop every --refresh_ms, by the server at start and on a refused Ingest.
  void CheckStorageWritable();
  void OnStorageWritableChange(std::function<void(bool writable)> on_change);

 private:
  Engine(const ServerOptions& options, Metrics* metrics);
  absl::Status Init();
  // Builds serving tables from representations in storage dense ids and publishes them.
  // `views` = 0 with no `user_view_weights`: the view weights are not available.
  absl::Status PublishRepresentations(uint64_t version, int64_t trained_segment, int32_t dim, int32_t num_users,
                                      std::vector<float> users, int32_t num_items, std::vector<float> items,
                                      int32_t views, std::vector<float> user_view_weights);
  absl::Status OnTrained(TrainingOutcome&& outcome);
  // Cluster mode (engine_cluster_model.cc): the trainer's gate, and the publication both ways.
  SegmentTrainer::GateDecision TrainOrAdopt(uint32_t segment, const std::atomic<bool>& cancel);
  absl::StatusOr<std::unique_ptr<model::RecommenderModel>> AdoptPublished(const cluster::ModelHead& head);
  // At start-up, before the trainer exists: the published model when the local files are not it (null: keep).
  absl::StatusOr<std::unique_ptr<model::RecommenderModel>> AdoptPublishedAtStart(int64_t local_segment);
  // Writes the files of `head` and serves them (the files mutex held, or before the trainer exists).
  absl::StatusOr<std::unique_ptr<model::RecommenderModel>> InstallPublished(const cluster::ModelHead& head,
                                                                            const std::string& checkpoint,
                                                                            const std::string& serving);
  void RecordPublishedHead(const cluster::ModelHead& head);
  bool AdoptHookAllows() const;  // test hook GPT4REC_TEST_ADOPT_AFTER_SEQUENCE (engine_cluster_model.cc)
  absl::Status PublishTrained(uint64_t version, int64_t segment);
  // After a delete: the lease holder publishes its rewritten files again as the head's own version, replacing
  // the bucket's copy of the deleted user's row (nothing when this replica cannot hold the lease or its files
  // are not the head's version; the next publication replaces the copy then).
  absl::Status RepublishAfterErasure();
  void RefreshPopular();
  void RefreshNewItems();
  void RefreshLoop();
  uint64_t GraphDigest() const;  // engine.cc
  absl::StatusOr<storage::AppendResult> StoreBatch(const std::vector<storage::Event>& events, uint64_t position);
  absl::StatusOr<storage::DeleteResult> DeleteLocally(const std::string& user_id);
  struct NewItems;
  // By last interaction time, newest first (ties by item id): "most recent" for explanations and the dashboard.
  static void MostRecentFirst(std::vector<storage::EdgeInfo>* edges);
  // explain: the scoring thread's input for ExplainRanked (engine_explain.cc). `fresh`: the folded-in items
  // `scoring` extends the trained table with (null: none).
  std::shared_ptr<const ExplainContext> PrepareExplain(const ServingTables& tables, const NewItems* fresh,
                                                       const ItemTable& scoring, const std::vector<float>& query,
                                                       RecSource source, uint32_t user,
                                                       std::vector<storage::EdgeInfo> edges) const;
  // `why` (explain only): why the user gets popular items, the start of Explanation.built_from.
  RecResult Popular(const std::vector<uint32_t>& exclude, uint32_t k, uint64_t version,
                    const char* why = nullptr) const;
  std::shared_ptr<const ServingTables> serving() const { return std::atomic_load(&serving_); }

  const ServerOptions options_;
  Metrics* const metrics_;
  ModelDir model_dir_;
  std::unique_ptr<storage::GraphStore> store_;
  std::unique_ptr<SegmentTrainer> trainer_;
  std::unique_ptr<MicroBatcher> batcher_;
  std::unique_ptr<ClusterReplica> cluster_;  // cluster mode only (--log)
  std::unique_ptr<cluster::ModelChannel> models_;  // cluster mode only: trainer lease and published models
  std::atomic<uint64_t> head_revision_{0};  // the model head this replica last trained on or adopted
  std::atomic<uint64_t> head_version_{0};
  std::atomic<uint64_t> trainings_{0};
  // Online hit rate: tested in StoreBatch before a batch is stored, fed by every Recommend reply (null: off).
  std::unique_ptr<OnlineHitRate> online_;
  std::vector<bool> StoredMask(const std::vector<storage::Event>& events, const storage::AppendResult& result) const;

  std::shared_ptr<const ServingTables> serving_;  // atomic_load / atomic_store only

  // Most frequent items of the last popular_window_events events, most popular first.
  struct PopularList {
    std::vector<std::pair<uint32_t, uint32_t>> items;  // (item, count)
    uint64_t through_sequence = 0;
  };
  std::shared_ptr<const PopularList> popular_;  // atomic_load / atomic_store only

  // Items stored after the serving model was trained, folded in: each one's representation is the mean of the
  // trained rows of the users who touched it, so new items are ranked before the next training. Rebuilt every
  // --refresh_ms when events arrived or the model changed, as ONE item table (the trained rows followed by the
  // folded-in rows) that the batched kernel scores like any other: scoring them per request made Recommend
  // 100-200x slower once 100k new items arrived between trainings.
  struct NewItems {
    const ItemTable* base = nullptr;  // the trained item table these extend
    uint64_t through_sequence = 0;
    std::vector<uint32_t> ids;        // storage ids of the folded-in items, ascending; row base->num_items() + i
    std::shared_ptr<const ItemTable> scoring;  // null when there are none: score `base` itself
  };
  std::shared_ptr<const NewItems> new_items_;  // atomic_load / atomic_store only
  std::atomic<uint64_t> last_sequence_{0};

  mutable std::mutex summary_mu_;
  TrainingSummary last_training_;
  std::vector<TrainingSummary> training_history_;  // guarded by summary_mu_
  std::mutex publish_mu_;  // serialises serving-table replacement (training vs DeleteUser vs install)
  std::mutex backup_mu_;   // one Snapshot at a time

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::thread refresher_;

  void NoteStorageWritable(const absl::Status& status);  // engine.cc
  std::mutex storage_state_mu_;
  bool storage_writable_ = true;  // as last reported (guarded by storage_state_mu_)
  std::function<void(bool)> on_storage_change_;
};

}  // namespace gpt4rec::server
