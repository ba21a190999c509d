// Disk full and other write errors: which writes are admitted, what a refusal says, and recovery without a
// restart (GraphStore::WritableStatus in graph_store.h; storage/README.md, "Disk full").
//
// Why the store guards RocksDB instead of only forwarding its errors: the Debian RocksDB is built with
// assertions, and once a WAL file writer has seen an error every later Append/Flush/Sync on it aborts the
// process (`Assertion 'sync_without_flush_called_' failed`). So after a write error the store never touches
// that writer again (no write, no FlushWAL, no Checkpoint) until DB::Resume has switched to a fresh WAL; and a
// free-space reserve keeps RocksDB from meeting ENOSPC in the first place.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "storage/disk_space.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

namespace {

uint64_t WalBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".log") bytes += entry.file_size(ec);
  return bytes;
}

constexpr char kRefusal[] = "storage refuses writes: ";
constexpr char kAfter[] = "; nothing of this request was applied, reads keep working; writes resume once space is freed";
}  // namespace

absl::Status RocksGraphStore::Refusal(const std::string& cause) const {
  if (write_no_space_) return absl::ResourceExhaustedError(absl::StrCat(kRefusal, "disk full: ", cause, kAfter));
  return absl::UnavailableError(absl::StrCat(kRefusal, "write error: ", cause,
                                             "; nothing of this request was applied, reads keep working"));
}

absl::Status RocksGraphStore::WriteFailed(const rocksdb::Status& s, const std::string& what) {
  // Only I/O errors stop RocksDB's writes (its background error); anything else is this request's problem.
  if (!s.IsIOError() && !s.IsNoSpace()) return FromRocks(s, what);
  write_state_ = WriteState::kStopped;
  write_no_space_ = s.IsNoSpace() || s.subcode() == rocksdb::Status::kSpaceLimit;
  write_error_ = absl::StrCat(what, ": ", s.ToString());
  return Refusal(write_error_);
}

absl::Status RocksGraphStore::AdmitWrite() {
  // Recovery below may resume or replace RocksDB: no edge file may be in flight then. A failed one is already
  // this store's stop cause or becomes it; its values are pending again.
  if (write_state_ != WriteState::kWritable) FinishEdgeFile().IgnoreError();
  const absl::StatusOr<uint64_t> free = FreeDiskBytes(dir_);
  // Recovering flushes the memtables to new SST files: wait for room for them (and the reserve), so that a
  // resume does not meet ENOSPC again half-way.
  const bool stopped = write_state_ != WriteState::kWritable;
  uint64_t need = options_.min_free_disk_bytes;
  // What the memtables hold is in the live WAL files: their size bounds the SSTs a resume writes.
  if (stopped) need = std::max<uint64_t>(need, WalBytes(dir_) + (4ull << 20));
  if (free.ok() && *free < need) {
    write_no_space_ = true;
    return absl::ResourceExhaustedError(absl::StrCat(
        kRefusal, "disk full: ", HumanBytes(*free), " free on the file system of ", dir_, ", below the ",
        HumanBytes(need), stopped ? " needed to resume" : " reserve (min_free_disk_bytes)",
        write_error_.empty() ? "" : absl::StrCat(" (after: ", write_error_, ")"), kAfter));
  }
  switch (write_state_) {
    case WriteState::kWritable:
      return absl::OkStatus();
    case WriteState::kStopped: {
      // DB::Resume flushes the memtables (the failed WAL is then obsolete) and starts a fresh WAL. RocksDB's
      // own recovery after ENOSPC is off (rocks_layout.cc, ManualNoSpaceRecovery), so Resume runs at once. It
      // answers Busy only if an automatic recovery runs anyway (an error class the listener leaves alone); a
      // Resume that fails on a resumable error (a flush meeting ENOSPC again) is retried on the next write.
      // Busy, or an error RocksDB will not resume from: the store closes RocksDB and reopens it for writing
      // (the WAL replay restores every acknowledged batch; the mirror stays as it is, nothing is re-read).
      const rocksdb::Status s = rocks_->db->Resume();
      if (s.ok()) {
        ++recoveries_.resumed;
        break;
      }
      if (!s.IsBusy() && (s.IsNoSpace() || s.subcode() == rocksdb::Status::kSpaceLimit)) {
        write_no_space_ = true;
        return Refusal(absl::StrCat(write_error_, "; resume: ", s.ToString()));
      }
      if (absl::Status r = ReopenForWrites(/*close_first=*/true); !r.ok()) return r;
      ++recoveries_.reopened;
      break;
    }
    case WriteState::kReadOnly:
      if (absl::Status r = ReopenForWrites(/*close_first=*/rocks_ == nullptr); !r.ok()) return r;
      ++recoveries_.reopened;
      break;
  }
  write_state_ = WriteState::kWritable;
  write_no_space_ = false;
  write_error_.clear();
  return absl::OkStatus();
}

absl::Status RocksGraphStore::ReopenForWrites(bool close_first) {
  absl::WriterMutexLock db_lock(&db_mu_);  // event scans and edge-value reads wait; mirror reads go on
  // A read-only instance holds no lock and stays open (serving scans) until the writable one has replayed the
  // same WAL; a writable one must be closed first.
  // Snapshots belong to one RocksDB instance: the edge-value readers' one is retaken on the instance kept.
  DropPublishedSnapshot();
  if (close_first) rocks_.reset();
  rocksdb::Status raw;
  absl::StatusOr<std::unique_ptr<RocksHandles>> writable = OpenRocks(dir_, options_, /*read_only=*/false, &raw);
  if (writable.ok()) {
    rocks_ = std::move(*writable);
    RepublishSnapshot();
    return absl::OkStatus();
  }
  if (rocks_ == nullptr) {
    // Keep serving scans: back to read-only until the next attempt (scans answer UNAVAILABLE if even that fails).
    absl::StatusOr<std::unique_ptr<RocksHandles>> read_only = OpenRocks(dir_, options_, /*read_only=*/true);
    if (read_only.ok()) rocks_ = std::move(*read_only);
    write_state_ = WriteState::kReadOnly;
  }
  RepublishSnapshot();
  if (!raw.ok()) return WriteFailedReadOnly(raw);
  return Refusal(std::string(writable.status().message()));
}

absl::Status RocksGraphStore::WriteFailedReadOnly(const rocksdb::Status& s) {
  write_no_space_ = s.IsNoSpace() || s.subcode() == rocksdb::Status::kSpaceLimit || write_no_space_;
  return Refusal(absl::StrCat(write_error_, "; reopening for writes: ", s.ToString()));
}

WriteRecoveries RocksGraphStore::GetWriteRecoveries() const {
  std::lock_guard write_lock(write_mu_);
  return recoveries_;
}

absl::Status RocksGraphStore::WritableStatus() {
  std::lock_guard write_lock(write_mu_);
  return AdmitWrite();
}

}  // namespace gpt4rec::storage
