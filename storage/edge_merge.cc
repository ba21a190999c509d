#include "storage/edge_merge.h"

#include <algorithm>
#include <string>

#include "rocksdb/slice.h"

namespace gpt4rec::storage {

codec::EdgeValue CombineEdges(const codec::EdgeValue& older, const codec::EdgeValue& newer) {
  codec::EdgeValue out = newer;
  out.first_time = std::min(older.first_time, newer.first_time);
  out.last_time = std::max(older.last_time, newer.last_time);
  out.count = older.count + newer.count;
  out.first_segment = std::min(older.first_segment, newer.first_segment);
  out.last_segment = std::max(older.last_segment, newer.last_segment);
  return out;
}

namespace {

class EdgeMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  const char* Name() const override { return "gpt4rec.EdgeMerge.v1"; }
  // false (an undecodable operand or value) makes RocksDB report Corruption for the key rather than guess.
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger* /*logger*/) const override {
    codec::EdgeValue newer;
    if (!codec::DecodeEdge(std::string_view(value.data(), value.size()), &newer)) return false;
    if (existing == nullptr) {
      new_value->assign(value.data(), value.size());
      return true;
    }
    codec::EdgeValue older;
    if (!codec::DecodeEdge(std::string_view(existing->data(), existing->size()), &older)) return false;
    new_value->clear();
    codec::EncodeEdge(CombineEdges(older, newer), new_value);
    return true;
  }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewEdgeMergeOperator() { return std::make_shared<EdgeMergeOperator>(); }

}  // namespace gpt4rec::storage
