// The pending edge values (storage/pending_edges.h) written into user_items with the sequence they cover, in
// one atomic step: as one SST file of merge operands (IngestExternalFile), or, after a DB::Resume, as one
// WriteBatch (RocksDB 7.8 aborts in IngestExternalFile after a Resume: ExternalSstFileIngestionJob::Prepare,
// "Assertion `number > 0' failed"; storage_disk_full_test reaches it).
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>

#include "rocksdb/sst_file_writer.h"
#include "rocksdb/write_batch.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/rocks_graph_store.h"
#include "util/thread_cpu.h"

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

rocksdb::Status RocksGraphStore::WriteEdgeFile(const PendingEdges& edges, uint64_t through, bool as_write_batch,
                                              uint64_t* bytes) const {
  rocksdb::ColumnFamilyHandle* cf = (*rocks_)[kCfUserItems];
  rocksdb::Status s;
  if (as_write_batch) {
    // Through the WAL and the memtable: ~2x the writer's CPU of a file, but no IngestExternalFile.
    rocksdb::WriteBatch wb(edges.size() * 28 + 64);
    s = WriteEdges(
        edges, through, [&](auto k, auto v) { return wb.Put(cf, k, v); },
        [&](auto k, auto v) { return wb.Merge(cf, k, v); });
    if (s.ok()) s = rocks_->db->Write(WriteOpts(), &wb);
    if (s.ok()) *bytes = wb.GetDataSize();
    return s;
  }
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
          edges, through, [&](auto k, auto v) { return writer.Put(k, v); },
          [&](auto k, auto v) { return writer.Merge(k, v); });
    if (s.ok()) s = writer.Finish();
    if (s.ok()) *bytes = writer.FileSize();
  }
  if (s.ok()) {
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;  // a hard link: the file is not copied
    s = rocks_->db->IngestExternalFile(cf, {path}, ingest);
  }
  std::filesystem::remove(path, ec);
  return s;
}

absl::Status RocksGraphStore::IngestPendingEdges() {
  if (absl::Status s = FinishEdgeFile(); !s.ok()) return s;
  if (pending_edges_.empty()) return absl::OkStatus();
  uint64_t bytes = 0;
  // Nothing was applied on failure: the values stay pending (and in the event log), and the request that
  // needed the room is refused like any failed write.
  if (rocksdb::Status s = WriteEdgeFile(pending_edges_, state_.next_sequence, recoveries_.resumed > 0, &bytes); !s.ok())
    return WriteFailed(s, "writing edge values");
  edge_file_bytes_ += bytes;
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

absl::Status RocksGraphStore::StartEdgeFile() {
  // After a Resume the values go through a WriteBatch (above): written by the append, as before.
  if (!options_.background_edge_files || recoveries_.resumed > 0) return IngestPendingEdges();
  if (absl::Status s = FinishEdgeFile(); !s.ok()) return s;
  {
    // The slots the last file's table kept (Clear) take the next cycle's values: no rehash while it fills.
    absl::WriterMutexLock lock(&state_mu_);
    std::swap(pending_edges_, ingesting_edges_);
    pending_edges_.Reserve(PendingEdgeLimit());
  }
  edge_job_ = std::make_unique<EdgeFileJob>();
  EdgeFileJob* job = edge_job_.get();
  const uint64_t through = state_.next_sequence;
  job->thread = std::thread([this, job, through] {
    const double cpu_start = util::ThreadCpuSeconds();
    job->status = WriteEdgeFile(ingesting_edges_, through, /*as_write_batch=*/false, &job->bytes);
    if (job->status.ok()) {
      if (edge_file_ingested_hook_) edge_file_ingested_hook_();
      job->snapshot = TakeSnapshot();
    }
    job->cpu_seconds = util::ThreadCpuSeconds() - cpu_start;
  });
  return absl::OkStatus();
}

absl::Status RocksGraphStore::FinishEdgeFile() {
  if (edge_job_ == nullptr) return absl::OkStatus();
  edge_job_->thread.join();
  const std::unique_ptr<EdgeFileJob> job = std::move(edge_job_);
  edge_file_thread_cpu_s_ += job->cpu_seconds;
  if (job->status.ok()) {
    edge_file_bytes_ += job->bytes;
    const rocksdb::Snapshot* snapshot = job->snapshot;
    {
      absl::WriterMutexLock lock(&state_mu_);
      ingesting_edges_.Clear();
      std::swap(published_, snapshot);
    }
    ReleaseSnapshot(snapshot);
    return absl::OkStatus();
  }
  {
    // The file is not in user_items: its values are pending again, under the newer ones that arrived since.
    absl::WriterMutexLock lock(&state_mu_);
    ingesting_edges_.AddAll(pending_edges_);
    std::swap(pending_edges_, ingesting_edges_);
    ingesting_edges_.Clear();
  }
  return WriteFailed(job->status, "writing edge values");
}

}  // namespace gpt4rec::storage
