// storage/ — benchmark support, NOT part of the graph_store.h contract (the way LevelDB keeps its TEST_ hooks
// out of db.h). bench/storage_bench.cc measures the store against the physical limit: the store's own
// WriteBatches, captured as they are written, replayed byte for byte into a raw RocksDB with the store's exact
// column families and options.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/graph_store.h"

namespace gpt4rec::storage::bench {

// GraphStore::Open, plus `observer` called (under the writer lock) with the serialized RocksDB WriteBatch of
// each AppendBatch after it was written.
absl::StatusOr<std::unique_ptr<GraphStore>> OpenObservingWriteBatches(
    const std::string& dir, const StoreOptions& options,
    std::function<void(std::string_view serialized_write_batch)> observer);

// Bytes of the edge-value files the store wrote into user_items since it was opened (0 for another store):
// the part of what it writes that is not in a captured WriteBatch (storage/pending_edges.h).
uint64_t EdgeFileBytes(const GraphStore& store);

// CPU seconds of the store's background edge-file threads since it was opened (StoreOptions::
// background_edge_files; 0 for another store): the part of its append work the writer thread's CPU misses.
double EdgeFileThreadCpuSeconds(const GraphStore& store);

// Tests: `hook` runs on the background thread of every edge file once the file is in user_items and before
// the writer publishes it (readers still see its values as pending). Set it before the first append.
void SetEdgeFileIngestedHook(GraphStore& store, std::function<void()> hook);

// Whether the store's Open built its mirror from the mirror image (storage/mirror_image.h) rather than a scan.
bool MirrorImageLoaded(const GraphStore& store);
// Events its Open replayed from the event log (after the image, or after the edge values).
uint64_t ReplayedEvents(const GraphStore& store);
// Bytes of mirror images the store wrote since it was opened.
uint64_t MirrorImageBytesWritten(const GraphStore& store);
// Wall seconds the store spent writing them (fsync included).
double MirrorImageWriteSeconds(const GraphStore& store);

// A raw RocksDB opened with the graph store's column families and options, nothing on top.
class RawRocksReplay {
 public:
  static absl::StatusOr<std::unique_ptr<RawRocksReplay>> Open(const std::string& dir, const StoreOptions& options);
  virtual ~RawRocksReplay() = default;
  // Writes one serialized WriteBatch as captured by OpenObservingWriteBatches (`sync`: fsync the WAL).
  virtual absl::Status Write(std::string_view serialized_write_batch, bool sync) = 0;
  // Writes only the batch's event-log entries (the packed events): the least a durable store must write.
  virtual absl::Status WriteEventLogOnly(std::string_view serialized_write_batch, bool sync) = 0;
  // Bytes of the event-log entries (key + value) in a captured batch.
  static uint64_t EventLogBytes(std::string_view serialized_write_batch);
};

}  // namespace gpt4rec::storage::bench
