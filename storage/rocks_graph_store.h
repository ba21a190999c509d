// Private to storage/: the RocksDB GraphStore. Its methods are defined in one file per concern:
//   rocks_graph_store.cc  Open, segments, CSR, checkpoint, flush
//   store_recovery.cc     Load: the mirror rebuilt from the column families on Open
//   batch_append.cc       AppendBatch
//   event_log_scan.cc     event-log scans (by sequence, by time, a segment's edges)
//   user_erasure.cc       DeleteUser and the compaction that erases the bytes
//   write_admission.cc    disk full / write errors: admission, refusal, Resume, read-only reopen
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/options.h"
#include "storage/codec.h"
#include "storage/graph_mirror.h"
#include "storage/pending_edges.h"
#include "storage/graph_store.h"
#include "storage/rocks_layout.h"

namespace gpt4rec::storage {

// Called (under the writer lock) with the serialized RocksDB WriteBatch of each AppendBatch after it was written.
using WriteBatchObserver = std::function<void(std::string_view serialized_write_batch)>;

class RocksGraphStore final : public GraphStore {
 public:
  // `write_batch_observer` (benchmarks only, may be empty): see storage/bench_support.h.
  RocksGraphStore(std::string dir, StoreOptions options, std::unique_ptr<RocksHandles> rocks,
                  WriteBatchObserver write_batch_observer)
      : dir_(std::move(dir)),
        options_(std::move(options)),
        write_batch_observer_(std::move(write_batch_observer)),
        rocks_(std::move(rocks)),
        mirror_(options_.event_id_window) {}

  ~RocksGraphStore() override {
    FinishEdgeFile().IgnoreError();  // a file not ingested: its values are replayed from the log on Open
    ReleaseSnapshot(published_);     // RocksDB will not close with one held
  }

  // Rebuilds the mirror, the persisted state and the closed segments from the column families (store_recovery.cc).
  absl::Status Load();

  absl::StatusOr<AppendResult> AppendBatch(const std::vector<Event>& events) override {
    return AppendBatchAt(events, 0);
  }
  absl::StatusOr<AppendResult> AppendBatchAt(const std::vector<Event>& events, uint64_t position) override;
  uint64_t AppliedPosition() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return state_.applied_position;
  }
  absl::StatusOr<SegmentInfo> CloseSegment() override { return CloseSegmentAt(0); }
  absl::StatusOr<SegmentInfo> CloseSegmentAt(uint64_t position) override;
  absl::Status RecordPosition(uint64_t position) override;

  std::optional<uint32_t> FindUser(const std::string& external_id) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.users.Find(external_id);
  }
  std::optional<uint32_t> FindItem(const std::string& external_id) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.items.Find(external_id);
  }
  absl::StatusOr<std::string> UserName(uint32_t user) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    if (auto n = mirror_.users.Name(user)) return std::string(*n);
    return absl::NotFoundError(absl::StrCat("user ", user, " is unknown or deleted"));
  }
  absl::StatusOr<std::string> ItemName(uint32_t item) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    if (auto n = mirror_.items.Name(item)) return std::string(*n);
    return absl::NotFoundError(absl::StrCat("item ", item, " is unknown"));
  }
  uint32_t UserIdSpace() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.users.size();
  }
  uint32_t ItemIdSpace() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.items.size();
  }

  // Which edges exist comes from the mirror; their values (times, count, type, weight) from user_items, read at
  // the RocksDB snapshot published with the mirror (rocks_graph_store.cc).
  std::vector<EdgeInfo> UserItems(uint32_t user) const override;
  std::vector<EdgeInfo> ItemUsers(uint32_t item) const override;
  std::vector<EdgeInfo> UserItemSegments(uint32_t user) const override;
  std::vector<EdgeInfo> ItemUserSegments(uint32_t item) const override;
  uint32_t UserDegree(uint32_t user) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.UserDegree(user);
  }
  uint32_t ItemDegree(uint32_t item) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.ItemDegree(item);
  }
  Counts GetCounts() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return Counts{mirror_.users.live(), mirror_.items.live(), mirror_.live_edges(), state_.stored_events};
  }
  uint64_t MemoryBytes() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.MemoryBytes() + pending_edges_.MemoryBytes() + ingesting_edges_.MemoryBytes();
  }
  // Bytes of the edge-value files (or bulk WriteBatches) since Open (benchmarks: the batch observer misses them).
  uint64_t EdgeFileBytes() const {
    std::lock_guard write_lock(write_mu_);
    return edge_file_bytes_;
  }
  // Test seam (storage/bench_support.h): called on the background thread once its file is in user_items,
  // before the writer publishes it. Set before the first append.
  void SetEdgeFileIngestedHook(std::function<void()> hook) { edge_file_ingested_hook_ = std::move(hook); }
  // CPU seconds of the background threads that wrote edge files (benchmarks: the writer's CPU misses them).
  double EdgeFileThreadCpuSeconds() const {
    std::lock_guard write_lock(write_mu_);
    return edge_file_thread_cpu_s_;
  }

  absl::Status ScanEvents(uint64_t from_sequence, uint64_t to_sequence,
                          const std::function<bool(const StoredEvent&)>& fn) const override;
  absl::Status ScanEventsByTime(int64_t from_time, int64_t to_time,
                                const std::function<bool(const StoredEvent&)>& fn) const override;

  SegmentInfo OpenSegment() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return state_.open;
  }
  std::vector<SegmentInfo> ClosedSegments() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return closed_;
  }
  absl::StatusOr<std::vector<EdgePair>> SegmentEdges(uint32_t segment) const override;
  absl::StatusOr<Csr> AccumulatedCsr(uint32_t segment) const override;

  absl::Status Checkpoint(const std::string& dir) const override;
  absl::StatusOr<DeleteResult> DeleteUser(const std::string& external_id) override;
  absl::Status Flush() override;
  absl::Status WritableStatus() override;
  WriteRecoveries GetWriteRecoveries() const override;

  // What Open did with the mirror image (storage/mirror_image.h), for tests and benchmarks.
  struct ImageInfo {
    bool loaded = false;         // the mirror came from the image (plus the event-log tail after it)
    uint64_t sequence = 0;       // the sequence the loaded image covered
    uint64_t replayed = 0;       // events replayed from the log after it (or after kEdgesThroughKey)
    std::string not_loaded_why;  // empty when loaded
    uint64_t images_written = 0;  // since Open (Flush, DeleteUser, edge files)
    uint64_t image_failures = 0;  // writes skipped or failed (logged; never an error of the request)
    uint64_t stored_events_at_image = 0;
    uint64_t image_bytes_written = 0;  // since Open
    double image_write_s = 0;          // wall seconds of those writes (fsync included)
  };
  ImageInfo GetImageInfo() const {
    std::lock_guard write_lock(write_mu_);
    return image_info_;
  }

  // Open found the disk full: the store was opened read-only (`why` says so); writes wait for space.
  void StartReadOnly(std::string why) {
    write_state_ = WriteState::kReadOnly;
    write_no_space_ = true;
    write_error_ = std::move(why);
  }

 private:
  // write_admission.cc. Callers hold write_mu_. AdmitWrite: OK, or the refusal, after trying to recover.
  absl::Status AdmitWrite();
  // A failed RocksDB write: I/O errors (ENOSPC first) stop writes until recovery; returns the request's status.
  absl::Status WriteFailed(const rocksdb::Status& s, const std::string& what);
  absl::Status WriteFailedReadOnly(const rocksdb::Status& s);
  // Opens RocksDB for writing in place of rocks_ (closing it first when `close_first`); caller holds write_mu_.
  absl::Status ReopenForWrites(bool close_first);
  absl::Status Refusal(const std::string& cause) const;
  // batch_append.cc: marks events whose event_id was seen before (window, batch, RocksDB).
  absl::Status FindDuplicateEventIds(const std::vector<Event>& events,
                                     absl::flat_hash_set<std::string_view>* batch_ids,
                                     std::vector<uint8_t>* duplicate) const;

  // A node's edges from the mirror alone (other, first/last segment). Caller holds state_mu_ shared.
  std::vector<EdgeInfo> UserItemSegmentsLocked(uint32_t user) const;
  std::vector<EdgeInfo> ItemUserSegmentsLocked(uint32_t item) const;
  // The edge values of `keys` (user_items keys, all in the mirror) at the published snapshot. Caller holds
  // db_mu_ and state_mu_ shared. Without RocksDB (a reopen failed) only the mirror's fields are filled in.
  std::vector<EdgeInfo> EdgeValues(const std::vector<std::string>& keys,
                                   const std::vector<EdgeInfo>& from_mirror) const;
  // The snapshot readers of edge values use. A write that changes user_items takes a new one right after the
  // write (caller holds write_mu_, so it is exactly that write's state) and swaps it in with the mirror
  // change, under state_mu_; the old one is released once no reader can hold it.
  void ReleaseSnapshot(const rocksdb::Snapshot* snapshot) const {
    if (snapshot != nullptr && rocks_ != nullptr) rocks_->db->ReleaseSnapshot(snapshot);
  }
  const rocksdb::Snapshot* TakeSnapshot() const { return rocks_ == nullptr ? nullptr : rocks_->db->GetSnapshot(); }
  // Around replacing rocks_ (caller holds db_mu_ exclusively, so no reader uses the snapshot).
  void DropPublishedSnapshot() {
    absl::WriterMutexLock lock(&state_mu_);
    ReleaseSnapshot(published_);
    published_ = nullptr;
  }
  void RepublishSnapshot() {
    const rocksdb::Snapshot* fresh = TakeSnapshot();
    absl::WriterMutexLock lock(&state_mu_);
    published_ = fresh;
  }
  // Scans [from, to) of the event log; `stopped` is set when fn returned false. Caller holds db_mu_ shared.
  absl::Status ScanRange(uint64_t from, uint64_t to, const std::vector<uint64_t>& segment_starts,
                         const std::function<bool(const StoredEvent&)>& fn, bool* stopped) const;
  std::vector<uint64_t> SegmentStarts() const;  // first_sequence of every segment, open one last
  absl::StatusOr<SegmentInfo> FindSegment(uint32_t segment) const;
  rocksdb::WriteOptions WriteOpts(bool force_sync = false) const {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync || force_sync;
    return wo;
  }
  absl::Status EraseFromFiles();  // user_erasure.cc
  // edge_ingest.cc. Caller holds write_mu_. Writes every pending value (the file in flight first, then
  // pending_edges_) into user_items, so that user_items holds every stored event's value; empties both tables.
  absl::Status IngestPendingEdges();
  // edge_ingest.cc. Caller holds write_mu_. An append whose pending table is full: waits for the file in
  // flight, then moves pending_edges_ to ingesting_edges_ and writes it on a background thread
  // (StoreOptions::background_edge_files; otherwise, or after a Resume, as IngestPendingEdges).
  absl::Status StartEdgeFile();
  // Caller holds write_mu_. Waits for the file in flight (none: OK); once it is in user_items its values leave
  // ingesting_edges_ with the snapshot that holds them published; on failure they return to pending_edges_
  // (the event log keeps them durable) and the error is the caller's, as a failed write.
  absl::Status FinishEdgeFile();
  // Writes `edges` and kEdgesThroughKey = `through` into user_items in one atomic step: an SST file, or a
  // WriteBatch (`as_write_batch`, after a Resume); *bytes: what it wrote. Needs rocks_ unchanged while it runs.
  rocksdb::Status WriteEdgeFile(const PendingEdges& edges, uint64_t through, bool as_write_batch,
                                uint64_t* bytes) const;
  uint64_t PendingEdgeLimit() const;  // ingest before a batch once this many edges are pending
  std::string EdgeFilePath() const;   // the SST file being written (in the data directory, then ingested)
  // store_recovery.cc: the events from min(mirror_from, pending_from) on, applied to the mirror (those from
  // mirror_from on: re-applying an event the mirror holds changes nothing) and to pending_edges_ (from
  // pending_from on); `replayed`: how many events the log holds from mirror_from on.
  absl::Status ReplayEdges(uint64_t mirror_from, uint64_t pending_from, uint64_t* replayed);
  // store_recovery.cc: the mirror from the columns families (names, user_items); sets *edges_through.
  absl::Status ScanMirror(uint64_t* edges_through);
  // The mirror from the image when it is valid for this store; false (mirror untouched, why in image_info_)
  // otherwise. Sets *image_sequence and *edges_through.
  bool LoadImage(uint64_t* image_sequence, uint64_t* edges_through);
  // Key and hash of the last event-log record before `sequence` (0, 0 when none): ties an image to the log.
  absl::Status LogFingerprint(uint64_t sequence, uint64_t* key, uint64_t* hash) const;
  // Writes the mirror image covering every event so far (edge values may be pending: Open replays them from
  // kEdgesThroughKey, which may precede the image). Caller holds write_mu_. Never fails the caller: a skipped or failed write (disk
  // short of the reserve plus the image, I/O error) is logged and counted in image_info_.
  void WriteImage(const char* why);
  void LogWarning(const std::string& message) const;

  const std::string dir_;
  const StoreOptions options_;
  const WriteBatchObserver write_batch_observer_;

  // Whether writes reach RocksDB (guarded by write_mu_). kStopped: a write or a background flush/compaction
  // failed with an I/O error, RocksDB holds it as its background error, the failed WAL writer must not be used
  // again before DB::Resume. kReadOnly: opened read-only on a full disk (rocks_ is null only if a reopen
  // failed to open even read-only; event scans then answer UNAVAILABLE).
  enum class WriteState { kWritable, kStopped, kReadOnly };
  WriteState write_state_ = WriteState::kWritable;
  bool write_no_space_ = false;  // the cause is lack of space (RESOURCE_EXHAUSTED) rather than another error
  std::string write_error_;      // what failed, RocksDB's words
  WriteRecoveries recoveries_;   // guarded by write_mu_

  // Lock order: write_mu_, then db_mu_, then state_mu_.
  mutable std::mutex write_mu_;          // one writer at a time (append, close, delete, checkpoint, flush)
  // absl::Mutex rather than std::shared_mutex: glibc's rwlock prefers readers, so a steady stream of
  // overlapping reads (serving) could starve the append path's short publish step.
  mutable absl::Mutex db_mu_;     // exclusive only while DeleteUser compacts and reopens RocksDB
  mutable absl::Mutex state_mu_;  // guards mirror_, state_, closed_
  std::unique_ptr<RocksHandles> rocks_;
  GraphMirror mirror_;
  const rocksdb::Snapshot* published_ = nullptr;  // guarded by state_mu_; see TakeSnapshot
  // Edge values not yet in user_items (storage/pending_edges.h); guarded by state_mu_, written by the writer.
  PendingEdges pending_edges_;
  // The values of the edge file in flight (older than pending_edges_'s); guarded by state_mu_, changed only by
  // the writer, read without the lock by the background thread while the file is in flight.
  PendingEdges ingesting_edges_;
  // The file in flight (started and joined by the writer, under write_mu_). Every path that replaces or
  // closes rocks_ joins it first (IngestPendingEdges, AdmitWrite's recovery, the destructor).
  struct EdgeFileJob {
    std::thread thread;
    rocksdb::Status status;                     // set by the thread
    const rocksdb::Snapshot* snapshot = nullptr;  // taken by the thread once the file is in
    uint64_t bytes = 0;
    double cpu_seconds = 0;
  };
  std::unique_ptr<EdgeFileJob> edge_job_;
  double edge_file_thread_cpu_s_ = 0;  // guarded by write_mu_
  std::function<void()> edge_file_ingested_hook_;
  bool edges_through_written_ = false;  // user_items has kEdgesThroughKey (written with the first append)
  uint64_t edge_file_bytes_ = 0;        // guarded by write_mu_
  ImageInfo image_info_;                // guarded by write_mu_ (set by Load before any other call)
  uint64_t image_sequence_ = 0;         // sequence of the image on disk (0: none); guarded by write_mu_
  codec::PersistedState state_;
  std::vector<SegmentInfo> closed_;
};

// GraphStore::Open with an optional write-batch observer (storage/bench_support.h passes one).
absl::StatusOr<std::unique_ptr<GraphStore>> OpenRocksGraphStore(const std::string& dir, const StoreOptions& options,
                                                                WriteBatchObserver write_batch_observer);

}  // namespace gpt4rec::storage
