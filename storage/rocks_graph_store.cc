// GraphStore on RocksDB with an in-memory adjacency mirror: Open, mirror reads, segments, CSR, checkpoint and
// flush. See rocks_graph_store.h for where the other methods live, storage/README.md for the design, the on-disk
// layout (storage/codec.h) and the durability / erasure guarantees.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/disk_space.h"
#include "storage/mirror_image.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

std::vector<EdgeInfo> RocksGraphStore::EdgeValues(const std::vector<std::string>& keys,
                                                  const std::vector<EdgeInfo>& from_mirror) const {
  if (rocks_ == nullptr || keys.empty()) return from_mirror;
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> found(keys.size());
  rocksdb::ReadOptions ro;
  ro.snapshot = published_;
  rocks_->db->MultiGet(ro, (*rocks_)[kCfUserItems], slices.size(), slices.data(), values.data(), found.data());
  std::vector<EdgeInfo> out;
  out.reserve(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    // What user_items holds, then what is pending on top of it (newer). The mirror, the snapshot and the
    // pending values are of the same write (the snapshot that holds a file is published as its values leave
    // ingesting_edges_); an edge with neither value would be damage on disk: it is still
    // reported (from the mirror), its value fields zero.
    codec::EdgeValue v;
    const bool on_disk =
        found[k].ok() && codec::DecodeEdge(std::string_view(values[k].data(), values[k].size()), &v);
    // Then the values of an edge file in flight (older) and of the pending table (newer).
    const uint32_t user = codec::GetBE32(keys[k].data()), item = codec::GetBE32(keys[k].data() + 4);
    bool found_any = on_disk;
    for (const codec::EdgeValue* pending : {ingesting_edges_.Find(user, item), pending_edges_.Find(user, item)}) {
      if (pending == nullptr) continue;
      v = found_any ? CombineEdges(v, *pending) : *pending;
      found_any = true;
    }
    if (!found_any) {
      out.push_back(from_mirror[k]);
      continue;
    }
    out.push_back(EdgeInfo{from_mirror[k].other, v.first_time, v.last_time, v.count, v.last_type, v.last_weight,
                           v.first_segment, v.last_segment});
  }
  return out;
}

std::vector<EdgeInfo> RocksGraphStore::UserItemSegmentsLocked(uint32_t user) const {
  std::vector<EdgeInfo> out;
  for (const RowEdge& e : mirror_.UserRow(user))
    out.push_back(EdgeInfo{e.item, 0, 0, 0, 0, 0, e.first_segment, e.last_segment});
  return out;
}

std::vector<EdgeInfo> RocksGraphStore::ItemUserSegmentsLocked(uint32_t item) const {
  std::vector<EdgeInfo> out;
  for (uint32_t user : mirror_.ItemRow(item)) {
    const RowEdge* e = mirror_.FindEdge(user, item);
    out.push_back(EdgeInfo{user, 0, 0, 0, 0, 0, e ? e->first_segment : 0, e ? e->last_segment : 0});
  }
  return out;
}

std::vector<EdgeInfo> RocksGraphStore::UserItemSegments(uint32_t user) const {
  absl::ReaderMutexLock lock(&state_mu_);
  return UserItemSegmentsLocked(user);
}

std::vector<EdgeInfo> RocksGraphStore::ItemUserSegments(uint32_t item) const {
  absl::ReaderMutexLock lock(&state_mu_);
  return ItemUserSegmentsLocked(item);
}

std::vector<EdgeInfo> RocksGraphStore::UserItems(uint32_t user) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  absl::ReaderMutexLock lock(&state_mu_);
  std::vector<EdgeInfo> from_mirror = UserItemSegmentsLocked(user);
  std::vector<std::string> keys;
  for (const EdgeInfo& e : from_mirror) keys.push_back(codec::EdgeKey(user, e.other));
  return EdgeValues(keys, from_mirror);
}

std::vector<EdgeInfo> RocksGraphStore::ItemUsers(uint32_t item) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  absl::ReaderMutexLock lock(&state_mu_);
  std::vector<EdgeInfo> from_mirror = ItemUserSegmentsLocked(item);
  std::vector<std::string> keys;
  for (const EdgeInfo& e : from_mirror) keys.push_back(codec::EdgeKey(e.other, item));
  return EdgeValues(keys, from_mirror);
}

absl::Status RocksGraphStore::RecordPosition(uint64_t position) {
  std::lock_guard write_lock(write_mu_);
  if (absl::Status s = AdmitWrite(); !s.ok()) return s;
  codec::PersistedState st = state_;
  st.applied_position = position;
  rocksdb::WriteBatch wb;
  wb.Put((*rocks_)[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (rocksdb::Status s = rocks_->db->Write(WriteOpts(), &wb); !s.ok()) return WriteFailed(s, "recording log position");
  absl::WriterMutexLock state_lock(&state_mu_);
  state_ = st;
  return absl::OkStatus();
}

absl::StatusOr<SegmentInfo> RocksGraphStore::CloseSegmentAt(uint64_t position) {
  std::unique_lock write_lock(write_mu_);
  if (absl::Status s = AdmitWrite(); !s.ok()) return s;
  codec::PersistedState st = state_;
  if (st.open.events == 0) {
    const absl::Status empty =
        absl::FailedPreconditionError(absl::StrCat("segment ", st.open.index, " holds no events"));
    if (position == 0) return empty;
    write_lock.unlock();
    if (absl::Status s = RecordPosition(position); !s.ok()) return s;
    return empty;
  }
  if (position > 0) st.applied_position = position;
  SegmentInfo done = st.open;
  done.closed = true;
  st.open = SegmentInfo{};
  st.open.index = done.index + 1;
  st.open.first_sequence = st.open.end_sequence = st.next_sequence;
  rocksdb::WriteBatch wb;
  wb.Put((*rocks_)[kCfMeta], codec::SegmentKey(done.index), codec::EncodeSegment(done));
  wb.Put((*rocks_)[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (rocksdb::Status s = rocks_->db->Write(WriteOpts(), &wb); !s.ok()) return WriteFailed(s, "closing segment");
  absl::WriterMutexLock state_lock(&state_mu_);
  closed_.push_back(done);
  state_ = st;
  return done;
}

absl::StatusOr<SegmentInfo> RocksGraphStore::FindSegment(uint32_t segment) const {
  absl::ReaderMutexLock lock(&state_mu_);
  if (segment < closed_.size()) return closed_[segment];
  if (segment == state_.open.index) return state_.open;
  return absl::NotFoundError(absl::StrCat("segment ", segment, " does not exist (open segment is ",
                                          state_.open.index, ")"));
}

absl::StatusOr<Csr> RocksGraphStore::AccumulatedCsr(uint32_t segment) const {
  absl::ReaderMutexLock lock(&state_mu_);
  if (segment > state_.open.index)
    return absl::NotFoundError(absl::StrCat("segment ", segment, " does not exist (open segment is ",
                                            state_.open.index, ")"));
  return mirror_.AccumulatedCsr(segment);
}

absl::Status RocksGraphStore::Checkpoint(const std::string& dir) const {
  std::lock_guard write_lock(write_mu_);
  if (std::filesystem::exists(dir)) return absl::AlreadyExistsError(absl::StrCat("checkpoint dir ", dir, " exists"));
  // A checkpoint flushes the memtables and syncs the WAL: the same writes as an append. Pending edge values
  // are not written first: the checkpoint's Open replays them from its event log.
  if (absl::Status s = const_cast<RocksGraphStore*>(this)->AdmitWrite(); !s.ok()) return s;
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s = FromRocks(rocksdb::Checkpoint::Create(rocks_->db, &raw), "checkpoint"); !s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush = 0: flush memtables first, so the checkpoint is SST files plus an empty WAL tail.
  if (absl::Status s = FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                                 absl::StrCat("checkpoint to ", dir));
      !s.ok())
    return s;
  // The mirror image too (a hard link: the image is replaced by rename, never changed in place). It covers a
  // prefix of the checkpoint's event log (the checkpoint's Open replays the rest and checks the prefix); the
  // checkpoint opens by scanning when it is missing, so a failure here is not the checkpoint's.
  const std::filesystem::path image = std::filesystem::path(dir_) / MirrorImage::kFileName;
  std::error_code ec;
  if (std::filesystem::exists(image, ec)) {
    const std::filesystem::path to = std::filesystem::path(dir) / MirrorImage::kFileName;
    std::filesystem::create_hard_link(image, to, ec);
    if (ec) std::filesystem::copy_file(image, to, ec);
    if (ec) {
      std::filesystem::remove(to, ec);
      LogWarning(absl::StrCat("checkpoint ", dir, ": mirror image not copied: ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status RocksGraphStore::Flush() {
  std::lock_guard write_lock(write_mu_);
  // Refused writes: syncing a WAL writer that failed would abort the process (write_admission.cc); what was
  // acknowledged is in the WAL already and is replayed on the next Open.
  if (absl::Status s = AdmitWrite(); !s.ok()) return s;
  // The pending edge values too, so that the next Open has no events to replay.
  if (absl::Status s = IngestPendingEdges(); !s.ok()) return s;
  if (rocksdb::Status s = rocks_->db->FlushWAL(/*sync=*/true); !s.ok()) return WriteFailed(s, "syncing WAL");
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (rocksdb::Status s = rocks_->db->Flush(fo, rocks_->cf); !s.ok()) return WriteFailed(s, "flushing memtables");
  // Each edge file overlaps all the others (every file spans the user range): merged into one sorted run now,
  // so that the next Open reads each edge once instead of combining operands across files.
  if (rocksdb::Status s = rocks_->db->CompactRange(rocksdb::CompactRangeOptions(), (*rocks_)[kCfUserItems],
                                                   nullptr, nullptr);
      !s.ok())
    return WriteFailed(s, "compacting edge values");
  // The next Open loads the mirror from this image instead of scanning (storage/mirror_image.h).
  WriteImage("flush");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GraphStore>> OpenRocksGraphStore(const std::string& dir, const StoreOptions& options,
                                                                WriteBatchObserver write_batch_observer) {
  if (options.segments.unit == SegmentUnit::kEvents && options.segments.events_per_segment == 0)
    return absl::InvalidArgumentError("segments: events:N needs N > 0");
  if (!std::filesystem::exists(dir)) {
    if (!options.create_if_missing) return absl::NotFoundError(absl::StrCat("data directory ", dir, " missing"));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  }
  // On a full disk an existing store opens read-only: reads are served, writes wait for space
  // (write_admission.cc). A read-write open there could meet ENOSPC inside RocksDB's recovery.
  const bool exists = std::filesystem::exists(std::filesystem::path(dir) / "CURRENT");
  std::string read_only_why;
  const absl::StatusOr<uint64_t> free = FreeDiskBytes(dir);
  if (exists && free.ok() && *free < options.min_free_disk_bytes)
    read_only_why = absl::StrCat("opened read-only: ", HumanBytes(*free), " free on the file system of ", dir,
                                 ", below the ", HumanBytes(options.min_free_disk_bytes),
                                 " reserve (min_free_disk_bytes)");
  rocksdb::Status raw;
  absl::StatusOr<std::unique_ptr<RocksHandles>> rocks = OpenRocks(dir, options, !read_only_why.empty(), &raw);
  if (!rocks.ok() && exists && read_only_why.empty() && raw.IsNoSpace()) {
    read_only_why = absl::StrCat("opened read-only: ", rocks.status().message());
    rocks = OpenRocks(dir, options, /*read_only=*/true);
  }
  if (!rocks.ok()) return rocks.status();
  auto store = std::make_unique<RocksGraphStore>(dir, options, std::move(*rocks),
                                                 std::move(write_batch_observer));
  if (!read_only_why.empty()) store->StartReadOnly(std::move(read_only_why));
  if (absl::Status s = store->Load(); !s.ok()) return s;
  return store;
}

absl::StatusOr<std::unique_ptr<GraphStore>> GraphStore::Open(const std::string& dir, const StoreOptions& options) {
  return OpenRocksGraphStore(dir, options, nullptr);
}

}  // namespace gpt4rec::storage
