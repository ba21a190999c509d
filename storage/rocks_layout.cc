#include "storage/rocks_layout.h"

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/listener.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/table.h"
#include "storage/edge_merge.h"
#include "storage/rocks_logger.h"

namespace gpt4rec::storage {

RocksHandles::~RocksHandles() {
  if (db == nullptr) return;
  for (auto* h : cf) db->DestroyColumnFamilyHandle(h);
  db->Close().PermitUncheckedError();
  delete db;
}

namespace {

// After ENOSPC RocksDB would start its own recovery (its SstFileManager polls the free space every 5 s and
// waits for a whole write buffer's worth), and while that runs DB::Resume answers Busy. The store has its own
// admission (storage/write_admission.cc: it resumes only once the WAL's size plus a margin is free, checked on
// every write), so RocksDB's automatic recovery is turned off for no-space errors: DB::Resume then recovers in
// place (flush the memtables, a fresh WAL) as soon as the store sees room, instead of a close and reopen.
class ManualNoSpaceRecovery final : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "gpt4rec.ManualNoSpaceRecovery"; }
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status bg_error, bool* auto_recovery) override {
    if (bg_error.IsNoSpace() || bg_error.subcode() == rocksdb::Status::kSpaceLimit) *auto_recovery = false;
    bg_error.PermitUncheckedError();
  }
};

}  // namespace

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsIncomplete()) return absl::ResourceExhaustedError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::unique_ptr<RocksHandles>> OpenRocks(const std::string& dir, const StoreOptions& options,
                                                        bool read_only, rocksdb::Status* raw_error) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  // The vector memtables below do not support concurrent inserts; there is one writer anyway.
  db_options.allow_concurrent_memtable_write = false;
  db_options.max_background_jobs = 4;
  // The vector memtables below move the sort into the flush, and the column families fill together: let two
  // flushes run at once (the default gives flushes a quarter of the background jobs).
  db_options.max_background_flushes = 2;
  db_options.max_background_compactions = 2;
  // Column families written rarely (ids, names) would otherwise pin old WAL files for a long time.
  db_options.max_total_wal_size = 512ull << 20;
  // A read-only open must not rotate the writable instance's LOG; RocksDB's default then logs nowhere useful.
  if (!read_only) db_options.info_log = OpenTolerantLogger(dir);  // storage/rocks_logger.h: why not RocksDB's
  db_options.keep_log_file_num = 2;
  db_options.recycle_log_file_num = 0;  // a recycled WAL could keep an erased user's bytes
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.listeners.push_back(std::make_shared<ManualNoSpaceRecovery>());

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions base;
  base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  base.write_buffer_size = options.memtable_bytes / 2;
  base.max_write_buffer_number = 4;
  base.level0_slowdown_writes_trigger = 40;
  base.level0_stop_writes_trigger = 64;
  base.compression = rocksdb::kNoCompression;

  // Adjacency values are merge operands (storage/edge_merge.h: the writer never reads an edge's old value).
  // They are point-read (MultiGet) by UserItems / ItemUsers for the values the mirror does not hold, so the
  // memtable must answer reads without sorting itself (the unsorted vector memtable used before sorts a copy
  // on every read): a skiplist, at ~4x the writer's CPU per event of the vector (storage/README.md).
  // The event log and the edge values hold dense ids only: ZSTD on the last level holding data, which has
  // most of it (disk per edge at 2 M: 49.7 -> 32.1 B; storage/README.md). Column families holding external
  // strings (names, ids, meta) stay uncompressed: the erasure audit of DeleteUser is a plain byte search.
  rocksdb::ColumnFamilyOptions events = base;
  events.bottommost_compression = rocksdb::kZSTD;
  rocksdb::ColumnFamilyOptions adjacency = events;
  adjacency.merge_operator = NewEdgeMergeOperator();
  adjacency.memtable_factory = std::make_shared<rocksdb::SkipListFactory>();
  adjacency.write_buffer_size = options.memtable_bytes;
  // Every edge file spans the whole key range, so each L0 -> L1 compaction rewrites all of L1 (merging operands,
  // ZSTD on the last level): 16 files per compaction instead of RocksDB's 4 rewrite it a quarter as often. At
  // 20 M events that took the compaction threads from ~41-47 to ~29-34 s of CPU, the writer (which shares the
  // 2 cores and their caches) from 23-27 to 17-19 s, and the ingest from 590-680 k to 820-910 k events/s
  // (storage/README.md, 2026-12-03). Cost: a point read of an edge value may look into up to 16 L0 files (no
  // bloom filter); only UserItems / ItemUsers (dashboard, cluster digest) read them, never Recommend.
  adjacency.level0_file_num_compaction_trigger = 16;
  adjacency.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression, rocksdb::kLZ4Compression,
                                     rocksdb::kLZ4Compression, rocksdb::kLZ4Compression, rocksdb::kLZ4Compression,
                                     rocksdb::kLZ4Compression};
  // Id keys arrive in random order and are only read back by iterators on Open: an unsorted vector memtable
  // (sorted once at flush) takes millions of puts/s where a skiplist tops out near 200k here.
  // Keys holding external strings (ids: names; meta: event ids) are stored whole (no delta encoding against
  // the previous key), so that scanning the files for an external id finds every copy: erasure is auditable.
  rocksdb::BlockBasedTableOptions whole_keys = table;
  whole_keys.block_restart_interval = 1;
  rocksdb::ColumnFamilyOptions ids = base;
  ids.table_factory.reset(rocksdb::NewBlockBasedTableFactory(whole_keys));
  ids.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  rocksdb::ColumnFamilyOptions names = base;
  names.memtable_factory = ids.memtable_factory;
  // meta holds the event-id keys, which AppendBatch point-reads (MultiGet) for ids outside the RAM window:
  // a skiplist memtable (a vector memtable sorts on every read) and bloom filters, in the SSTs and in the
  // memtable, so that looking up a new id (the common case) rarely reads a block.
  rocksdb::BlockBasedTableOptions meta_table = whole_keys;
  meta_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions meta = base;
  meta.table_factory.reset(rocksdb::NewBlockBasedTableFactory(meta_table));
  meta.memtable_whole_key_filtering = true;
  meta.memtable_prefix_bloom_size_ratio = 0.05;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int c = 0; c < kCfCount; ++c) {
    const rocksdb::ColumnFamilyOptions& o =
        (c == kCfUserItems || c == kCfItemUsers) ? adjacency
        : c == kCfMeta                           ? meta
        : c == kCfIds                            ? ids
        : c == kCfNames                          ? names
        : c == kCfEvents                         ? events
                                                 : base;
    descriptors.emplace_back(kColumnFamilyNames[c], o);
  }
  auto handles = std::make_unique<RocksHandles>();
  rocksdb::Status s = read_only
                          ? rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles->cf, &handles->db)
                          : rocksdb::DB::Open(db_options, dir, descriptors, &handles->cf, &handles->db);
  if (!s.ok()) {
    if (raw_error != nullptr) *raw_error = s;
    handles->db = nullptr;
    return FromRocks(s, absl::StrCat("opening ", dir));
  }
  return handles;
}

}  // namespace gpt4rec::storage
