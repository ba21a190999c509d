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

  absl::Status WriteEventLogOnly(std::string_view serialized_write_batch, bool sync) override {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::WriteBatch in{std::string(serialized_write_batch)}, out;
    EventLogFilter filter((*rocks_)[kCfEvents]->GetID(), &out, (*rocks_)[kCfEvents]);
    if (absl::Status s = FromRocks(in.Iterate(&filter), "reading batch"); !s.ok()) return s;
    return FromRocks(rocks_->db->Write(wo, &out), "raw event-log write");
  }

  // Copies the event-log Puts of a batch into `out` (or only counts their bytes when out is null).
  class EventLogFilter final : public rocksdb::WriteBatch::Handler {
   public:
    EventLogFilter(uint32_t cf_id, rocksdb::WriteBatch* out, rocksdb::ColumnFamilyHandle* cf)
        : cf_id_(cf_id), out_(out), cf_(cf) {}
    rocksdb::Status PutCF(uint32_t cf_id, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
      if (cf_id != cf_id_) return rocksdb::Status::OK();
      bytes += key.size() + value.size();
      return out_ ? out_->Put(cf_, key, value) : rocksdb::Status::OK();
    }
    rocksdb::Status DeleteCF(uint32_t, const rocksdb::Slice&) override { return rocksdb::Status::OK(); }
    rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
      return rocksdb::Status::OK();
    }
    uint64_t bytes = 0;

   private:
    const uint32_t cf_id_;
    rocksdb::WriteBatch* const out_;
    rocksdb::ColumnFamilyHandle* const cf_;
  };

 private:
  std::unique_ptr<RocksHandles> rocks_;
};

}  // namespace

uint64_t RawRocksReplay::EventLogBytes(std::string_view serialized_write_batch) {
  // Column families are created in kColumnFamilyNames order, so the event log's id is its index.
  rocksdb::WriteBatch in{std::string(serialized_write_batch)};
  RawRocksReplayImpl::EventLogFilter counter(kCfEvents, nullptr, nullptr);
  if (!in.Iterate(&counter).ok()) return 0;
  return counter.bytes;
}

absl::StatusOr<std::unique_ptr<GraphStore>> OpenObservingWriteBatches(
    const std::string& dir, const StoreOptions& options,
    std::function<void(std::string_view serialized_write_batch)> observer) {
  return OpenRocksGraphStore(dir, options, std::move(observer));
}

uint64_t EdgeFileBytes(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks == nullptr ? 0 : rocks->EdgeFileBytes();
}

double EdgeFileThreadCpuSeconds(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks == nullptr ? 0 : rocks->EdgeFileThreadCpuSeconds();
}

void SetEdgeFileIngestedHook(GraphStore& store, std::function<void()> hook) {
  if (auto* rocks = dynamic_cast<RocksGraphStore*>(&store)) rocks->SetEdgeFileIngestedHook(std::move(hook));
}

bool MirrorImageLoaded(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks != nullptr && rocks->GetImageInfo().loaded;
}

double MirrorImageWriteSeconds(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks == nullptr ? 0 : rocks->GetImageInfo().image_write_s;
}

uint64_t ReplayedEvents(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks == nullptr ? 0 : rocks->GetImageInfo().replayed;
}

uint64_t MirrorImageBytesWritten(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  return rocks == nullptr ? 0 : rocks->GetImageInfo().image_bytes_written;
}

absl::StatusOr<std::unique_ptr<RawRocksReplay>> RawRocksReplay::Open(const std::string& dir,
                                                                     const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<RocksHandles>> rocks = OpenRocks(dir, options);
  if (!rocks.ok()) return rocks.status();
  return std::unique_ptr<RawRocksReplay>(new RawRocksReplayImpl(std::move(*rocks)));
}

}  // namespace gpt4rec::storage::bench
