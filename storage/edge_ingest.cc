// The pending edge values (storage/pending_edges.h) written into user_items with the sequence they cover, in
// one atomic step: as one SST file of merge operands (IngestExternalFile), or, after a DB::Resume, as one
// WriteBatch (RocksDB 7.8 aborts in IngestExternalFile after a Resume: ExternalSstFileIngestionJob::Prepare,
// "Assertion `number > 0' failed"; storage_disk_full_test reaches it).
#include <filesystem>
#include <string>
#include <system_error>

#include "rocksdb/sst_file_writer.h"
#include "rocksdb/write_batch.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

uint64_t RocksGraphStore::PendingEdgeLimit() const {
  // A 32nd of the graph (>= 64k edges): pending values stay ~1.5-3 bytes per stored edge in RAM, and each file
  // carries enough edges that the files' count (and their compaction) stays small.
  return std::max<uint64_t>(64 * 1024, mirror_.live_edges() / 32);
}

std::string RocksGraphStore::EdgeFilePath() const { return (std::filesystem::path(dir_) / "edges.ingest.sst").string(); }

namespace {

// Writes the kEdgesThroughKey entry and every pending value in key order through `put` and `merge`.
template <typename Put, typename Merge>
rocksdb::Status WriteEdges(const PendingEdges& pending, uint64_t through_sequence, Put put, Merge merge) {
  char through[8];
  codec::PutBE64(through, through_sequence);
  rocksdb::Status s =
      put(rocksdb::Slice(codec::kEdgesThroughKey.data(), codec::kEdgesThroughKey.size()), rocksdb::Slice(through, 8));
  char key[8];
  pending.ForEachSorted([&](uint64_t k, const char* value, size_t n) {
    if (!s.ok()) return;
    codec::PutBE64(key, k);  // BE32(user) BE32(item)
    s = merge(rocksdb::Slice(key, 8), rocksdb::Slice(value, n));
  });
  return s;
}

}  // namespace

absl::Status RocksGraphStore::IngestPendingEdges() {
  if (pending_edges_.empty()) return absl::OkStatus();
  rocksdb::ColumnFamilyHandle* cf = (*rocks_)[kCfUserItems];
  rocksdb::Status s;
  if (recoveries_.resumed > 0) {
    // Through the WAL and the memtable: ~2x the writer's CPU of a file, but no IngestExternalFile.
    rocksdb::WriteBatch wb(pending_edges_.size() * 28 + 64);
    s = WriteEdges(
        pending_edges_, state_.next_sequence, [&](auto k, auto v) { return wb.Put(cf, k, v); },
        [&](auto k, auto v) { return wb.Merge(cf, k, v); });
    if (s.ok()) s = rocks_->db->Write(WriteOpts(), &wb);
    if (s.ok()) edge_file_bytes_ += wb.GetDataSize();
  } else {
    rocksdb::Options options(rocks_->db->GetDBOptions(), rocks_->db->GetOptions(cf));
    // `compression` is not what SstFileWriter uses here: with compression_per_level set (user_items: LZ4 on
    // levels 2+) it takes that list's last entry, so the file is LZ4-compressed. Kept on purpose: clearing
    // the list saved ~4 % of the writer's CPU at 2 M events (1.61-1.62 s against 1.67-1.71 s) but doubled the
    // edge files' bytes (11.8 -> 23.6 B per event), measured 2026-12-02.
    options.compression = rocksdb::kNoCompression;
    options.bottommost_compression = rocksdb::kDisableCompressionOption;
    const std::string path = EdgeFilePath();
    std::error_code ec;
    std::filesystem::remove(path, ec);  // a file left by a crash before its ingestion
    {
      rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, cf);
      s = writer.Open(path);
      if (s.ok())
        s = WriteEdges(
            pending_edges_, state_.next_sequence, [&](auto k, auto v) { return writer.Put(k, v); },
            [&](auto k, auto v) { return writer.Merge(k, v); });
      if (s.ok()) s = writer.Finish();
      if (s.ok()) edge_file_bytes_ += writer.FileSize();
    }
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = true;  // a hard link: the file is not copied
      s = rocks_->db->IngestExternalFile(cf, {path}, ingest);
    }
    std::filesystem::remove(path, ec);
  }
  // Nothing was applied on failure: the values stay pending (and in the event log), and the request that
  // needed the room is refused like any failed write.
  if (!s.ok()) return WriteFailed(s, "writing edge values");
  const rocksdb::Snapshot* snapshot = TakeSnapshot();
  {
    absl::WriterMutexLock lock(&state_mu_);
    pending_edges_.Clear();
    pending_edges_.Reserve(PendingEdgeLimit());
    std::swap(published_, snapshot);
  }
  ReleaseSnapshot(snapshot);
  return absl::OkStatus();
}

}  // namespace gpt4rec::storage
