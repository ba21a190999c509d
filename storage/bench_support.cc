#include "storage/bench_support.h"

#include <utility>

#include "rocksdb/write_batch.h"
#include "storage/rocks_graph_store.h"
#include "storage/rocks_layout.h"

namespace gpt4rec::storage::bench {
namespace {

class RawRocksReplayImpl final : public RawRocksReplay {
 public:
  explicit RawRocksReplayImpl(std::unique_ptr<RocksHandles> rocks) : rocks_(std::move(rocks)) {}
  absl::Status Write(std::string_view serialized_write_batch, bool sync) override {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::WriteBatch wb{std::string(serialized_write_batch)};
    return FromRocks(rocks_->db->Write(wo, &wb), "raw write");
  }

 private:
  std::unique_ptr<RocksHandles> rocks_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GraphStore>> OpenObservingWriteBatches(
    const std::string& dir, const StoreOptions& options,
    std::function<void(std::string_view serialized_write_batch)> observer) {
  return OpenRocksGraphStore(dir, options, std::move(observer));
}

absl::StatusOr<std::unique_ptr<RawRocksReplay>> RawRocksReplay::Open(const std::string& dir,
                                                                     const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<RocksHandles>> rocks = OpenRocks(dir, options);
  if (!rocks.ok()) return rocks.status();
  return std::unique_ptr<RawRocksReplay>(new RawRocksReplayImpl(std::move(*rocks)));
}

}  // namespace gpt4rec::storage::bench
