// Private to storage/: the RocksDB column families and options the graph store opens with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "rocksdb/db.h"
#include "storage/graph_store.h"

namespace gpt4rec::storage {

// Column family indexes into RocksHandles::cf (order of kColumnFamilyNames).
enum Cf : int { kCfDefault = 0, kCfEvents, kCfUserItems, kCfItemUsers, kCfIds, kCfNames, kCfMeta, kCfCount };
inline const char* const kColumnFamilyNames[kCfCount] = {"default", "events",  "user_items", "item_users",
                                                        "ids",     "names",   "meta"};

// An open RocksDB with all column families; closes it on destruction.
struct RocksHandles {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;
  ~RocksHandles();
  rocksdb::ColumnFamilyHandle* operator[](Cf c) const { return cf[c]; }
};

absl::Status FromRocks(const rocksdb::Status& s, const std::string& what);

// `read_only`: DB::OpenForReadOnly (replays the WAL into memory, writes nothing: how a store opens on a full
// disk). `raw_error`, when given, receives RocksDB's own status of a failed open.
absl::StatusOr<std::unique_ptr<RocksHandles>> OpenRocks(const std::string& dir, const StoreOptions& options,
                                                        bool read_only = false,
                                                        rocksdb::Status* raw_error = nullptr);

}  // namespace gpt4rec::storage
