// storage/ — the RocksDB-backed dynamic user-item graph. This header is the module's whole contract.
//
// Knows nothing of gRPC, protobuf or the model: events in, CSR arrays out. Errors are absl::Status; nothing
// here throws across the boundary.
//
// Design (details in storage/README.md): RocksDB is the durable copy; an in-memory mirror of the id maps and
// of the adjacency (rebuilt from the column families on Open) serves every id / adjacency / degree / CSR read,
// so appends never read RocksDB and AccumulatedCsr is a pass over arrays. Event scans read the event log
// column family. Sequences start at 1 (0 means "none"). Dense ids are never reused: a deleted user's slot
// stays empty and the same external id, if it comes back, gets a new dense id.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::storage {

// Limits enforced by validation (and documented in the proto).
inline constexpr size_t kMaxIdBytes = 256;

// One interaction as producers send it.
struct Event {
  std::string user_id;   // 1..256 bytes
  std::string item_id;   // 1..256 bytes
  int64_t timestamp = 0; // unix seconds, event time, >= 0
  int32_t event_type = 0;
  float weight = 1.0f;   // finite
  std::string event_id;  // optional idempotency key, <= 256 bytes
};

// How event time is cut into segments. kManual: only CloseSegment() closes.
enum class SegmentUnit { kHour, kDay, kMonth, kEvents, kManual };

struct SegmentPolicy {
  SegmentUnit unit = SegmentUnit::kManual;
  // For kEvents: close after this many events.
  uint64_t events_per_segment = 0;
};

// Parses "hour", "day", "month", "manual" or "events:N".
absl::StatusOr<SegmentPolicy> ParseSegmentPolicy(const std::string& text);

struct StoreOptions {
  bool create_if_missing = true;
  // false (default): each batch is in the OS page cache's WAL when acknowledged — a process crash loses nothing
  // acknowledged, a machine/power crash can lose the last acknowledged batches. true: fsync the WAL per batch.
  bool sync = false;
  SegmentPolicy segments;
  // RocksDB block cache (bytes).
  size_t block_cache_bytes = 64ull << 20;
  // Writes are refused (RESOURCE_EXHAUSTED, nothing applied) while the data directory's file system has less
  // than this many bytes free, so RocksDB's own flushes and compactions keep room and it rarely meets ENOSPC
  // itself. 0 disables the check (RocksDB's ENOSPC is still handled: see WritableStatus).
  uint64_t min_free_disk_bytes = 64ull << 20;
  // RocksDB write buffer (memtable) of the adjacency column families; the others get half. RocksDB
  // preallocates about 1.1x this for each WAL file.
  uint64_t memtable_bytes = 128ull << 20;
  // Idempotency window: the fingerprints of this many most recent event ids stay in RAM (~50 bytes each).
  // Exactly-once holds beyond it too: an id the window does not hold is looked up in RocksDB (bloom-filtered,
  // one MultiGet per batch), so a retry of any age is still acknowledged as a duplicate. 0: always look up.
  uint64_t event_id_window = 1ull << 20;
  // The mirror image (storage/README.md, "Restart"): Flush and DeleteUser write it; an AppendBatch also
  // rewrites it once more than max(this, half the stored events) events arrived since the last one, so that a
  // restart after a crash replays at most about that many events from the log. 0: only Flush and DeleteUser.
  uint64_t mirror_image_min_events = 1ull << 20;
  // The edge-value files (storage/pending_edges.h) are encoded and ingested on a background thread while
  // appends go on (readers see the values being written until the file is in), instead of by the append that
  // fills the pending table. At most one file is in flight: an append that fills the table again first waits
  // for it. false: every file is written by the append itself (the layout and the bytes are the same).
  bool background_edge_files = true;
};

// Outcome of one AppendBatch.
struct AppendResult {
  uint32_t appended = 0;        // events newly stored
  uint32_t duplicates = 0;      // events skipped: event_id seen before
  uint64_t last_sequence = 0;   // sequence of the last stored event in the store after the batch
  std::vector<uint32_t> closed_segments;  // segments this batch closed by crossing a boundary
};

// Per-edge state, kept for both adjacency directions.
struct EdgeInfo {
  uint32_t other = 0;       // the dense id at the other end (item for a user's list, user for an item's list)
  int64_t first_time = 0;
  int64_t last_time = 0;
  uint32_t count = 0;
  int32_t last_type = 0;
  float last_weight = 0;
  uint32_t first_segment = 0;  // the segment in which this edge first appeared
  uint32_t last_segment = 0;   // the latest segment with an event on this edge
  // first_time / last_time: the smallest / largest event time seen on the edge (late events included);
  // last_type / last_weight: those of the most recently appended event.
};

// A stored event as read back.
struct StoredEvent {
  uint64_t sequence = 0;
  uint32_t user = 0;  // dense ids
  uint32_t item = 0;
  int64_t timestamp = 0;
  int32_t event_type = 0;
  float weight = 0;
  uint32_t segment = 0;
};

struct SegmentInfo {
  uint32_t index = 0;
  bool closed = false;
  uint64_t first_sequence = 0;  // sequences [first_sequence, end_sequence)
  uint64_t end_sequence = 0;
  int64_t min_time = 0;         // event-time span of its events (0/0 when empty)
  int64_t max_time = 0;
  uint64_t events = 0;
};

// User-major CSR of a bipartite graph: the items of user u are indices[indptr[u] .. indptr[u+1]), sorted
// ascending. Dense ids; deleted users keep their slot with no edges.
struct Csr {
  uint32_t num_users = 0;
  uint32_t num_items = 0;
  std::vector<int64_t> indptr;   // num_users + 1
  std::vector<int32_t> indices;  // num edges
  // Parallel to indices: the latest segment with an event on each edge. It can be later than the segment the
  // CSR was built for, when the edge was seen again after it (the store keeps no per-segment history).
  std::vector<uint32_t> last_segment;
};

// A (user, item) pair in dense ids.
struct EdgePair {
  uint32_t user = 0;
  uint32_t item = 0;
};

struct Counts {
  uint64_t users = 0;  // live users
  uint64_t items = 0;
  uint64_t edges = 0;  // distinct live (user, item) pairs
  uint64_t events = 0; // stored events (deleted users' events excluded)
};

// How the store got out of a write stop (disk full, write error) since it was opened: in place by RocksDB's
// DB::Resume, or by closing RocksDB and reopening it for writing (also how a store opened read-only on a full
// disk becomes writable).
struct WriteRecoveries {
  uint64_t resumed = 0;
  uint64_t reopened = 0;
};

struct DeleteResult {
  bool deleted = false;
  uint64_t edges_removed = 0;
  uint64_t events_removed = 0;
};

// Thread-safety: all methods may be called concurrently; writes are serialised internally, reads see a
// consistent state (never half a batch).
class GraphStore {
 public:
  static absl::StatusOr<std::unique_ptr<GraphStore>> Open(const std::string& dir, const StoreOptions& options);
  virtual ~GraphStore() = default;

  // Validates every event first (storage/event_validation.h: the error names the index and field, e.g.
  // "events[3].user_id: empty"); then
  // interns ids, logs the events and upserts both adjacency directions in ONE RocksDB WriteBatch. All or
  // nothing. Idempotent on event_id.
  virtual absl::StatusOr<AppendResult> AppendBatch(const std::vector<Event>& events) = 0;

  // --- ids ---
  virtual std::optional<uint32_t> FindUser(const std::string& external_id) const = 0;
  virtual std::optional<uint32_t> FindItem(const std::string& external_id) const = 0;
  virtual absl::StatusOr<std::string> UserName(uint32_t user) const = 0;  // NOT_FOUND when deleted / unknown
  virtual absl::StatusOr<std::string> ItemName(uint32_t item) const = 0;
  // Dense id space sizes (max id + 1), including deleted users' empty slots.
  virtual uint32_t UserIdSpace() const = 0;
  virtual uint32_t ItemIdSpace() const = 0;

  // --- adjacency ---
  virtual std::vector<EdgeInfo> UserItems(uint32_t user) const = 0;  // sorted by item id
  virtual std::vector<EdgeInfo> ItemUsers(uint32_t item) const = 0;  // sorted by user id
  // The same lists with only `other`, first_segment and last_segment filled (the rest zero), read from memory
  // alone: what a Recommend call needs per request. UserItems / ItemUsers read the other fields from disk (one
  // MultiGet per call), which costs a random read per edge on the request path.
  virtual std::vector<EdgeInfo> UserItemSegments(uint32_t user) const = 0;  // sorted by item id
  virtual std::vector<EdgeInfo> ItemUserSegments(uint32_t item) const = 0;  // sorted by user id
  virtual uint32_t UserDegree(uint32_t user) const = 0;
  virtual uint32_t ItemDegree(uint32_t item) const = 0;
  virtual Counts GetCounts() const = 0;
  // Approximate heap bytes of the in-memory mirror (ids, adjacency, event-id keys). O(ids) to compute.
  virtual uint64_t MemoryBytes() const { return 0; }

  // --- events ---
  // Events with sequence in [from, to), ascending; stops early when fn returns false. fn runs under the
  // store's scan lock: it may use the mirror reads (ids, adjacency, CSR) but must not scan again or call
  // DeleteUser.
  virtual absl::Status ScanEvents(uint64_t from_sequence, uint64_t to_sequence,
                                  const std::function<bool(const StoredEvent&)>& fn) const = 0;
  // Events whose event time lies in [from, to), in sequence order.
  virtual absl::Status ScanEventsByTime(int64_t from_time, int64_t to_time,
                                        const std::function<bool(const StoredEvent&)>& fn) const = 0;

  // --- segments ---
  virtual SegmentInfo OpenSegment() const = 0;
  virtual std::vector<SegmentInfo> ClosedSegments() const = 0;
  // Time units close the open segment when an event's calendar bucket (UTC) is later than that of the open
  // segment's first event; that event and the rest of its batch go to the new segment. Late events (earlier
  // bucket) stay in the open segment. kEvents closes as soon as the open segment holds N events.
  // Closes the open segment now. FAILED_PRECONDITION when it holds no events.
  virtual absl::StatusOr<SegmentInfo> CloseSegment() = 0;
  // NOT_FOUND for a segment past the open one (the open segment itself is allowed in both calls below).
  // Distinct (user, item) pairs that have an event in segment s, sorted (user, item).
  virtual absl::StatusOr<std::vector<EdgePair>> SegmentEdges(uint32_t segment) const = 0;
  // The accumulated graph of segments 0..s: every live edge whose first_segment <= s. One pass.
  virtual absl::StatusOr<Csr> AccumulatedCsr(uint32_t segment) const = 0;

  // --- maintenance ---
  // A RocksDB checkpoint of the whole store into `dir` (must not exist). Open(dir) gives an identical store.
  virtual absl::Status Checkpoint(const std::string& dir) const = 0;
  // Removes the user's edges (both directions), events, event-id keys and id mapping, fixes item degrees, and
  // compacts so that the external id is in no live file of the data directory. deleted == false when the id
  // is unknown (the compaction still runs, so retrying after a crash mid-delete completes the erasure).
  // Blocks other writers and event scans while it compacts (seconds on a large store).
  virtual absl::StatusOr<DeleteResult> DeleteUser(const std::string& external_id) = 0;
  // Flushes memtables and syncs the WAL (for graceful shutdown). While writes are refused (see WritableStatus)
  // it touches nothing and returns that status: the acknowledged batches are already in the WAL.
  virtual absl::Status Flush() = 0;

  // --- replicated log (cluster mode) ---
  // The position (the replicated log's sequence; storage only assumes "larger is later") of the last log entry
  // applied to this store; 0: none (single-process mode never sets it). The *At calls record `position` in the
  // SAME WriteBatch as their effect, also when the effect is empty (a batch of duplicates, nothing to close),
  // so after a crash the store and its position agree and a replica re-applies exactly the entries after it.
  virtual uint64_t AppliedPosition() const = 0;
  // AppendBatch + the position. INVALID_ARGUMENT (nothing written, position unchanged) as AppendBatch.
  virtual absl::StatusOr<AppendResult> AppendBatchAt(const std::vector<Event>& events, uint64_t position) = 0;
  // CloseSegment + the position; an empty open segment records the position only (FAILED_PRECONDITION then).
  virtual absl::StatusOr<SegmentInfo> CloseSegmentAt(uint64_t position) = 0;
  // The position alone: after an entry whose effect is written otherwise (DeleteUser, which is idempotent, so
  // a crash between the two re-applies it harmlessly) or that had none (a batch refused by validation).
  virtual absl::Status RecordPosition(uint64_t position) = 0;

  // --- disk full ---
  // OK when writes are accepted. Otherwise the status every write (AppendBatch, CloseSegment, DeleteUser,
  // Checkpoint) gets now, its message naming the cause:
  //  - RESOURCE_EXHAUSTED "storage refuses writes: disk full: ..." — free space below
  //    StoreOptions::min_free_disk_bytes, RocksDB hit ENOSPC (its background error), or the store was opened
  //    on a full disk (read-only: Open then succeeds and every read works);
  //  - UNAVAILABLE "storage refuses writes: write error: ..." — another I/O error stopped RocksDB.
  // Reads are never affected. Each call (and each write) first tries to recover: once enough space is free it
  // resumes RocksDB (DB::Resume, which flushes the memtables) or reopens a read-only store for writing, with
  // no restart and no acknowledged batch lost. Cheap when writable (one statvfs).
  virtual absl::Status WritableStatus() = 0;
  virtual WriteRecoveries GetWriteRecoveries() const { return {}; }
};

}  // namespace gpt4rec::storage
