// Private to storage/: user_items values as RocksDB merge operands, so that AppendBatch never needs an edge's
// previous value (it is not kept in RAM: storage/README.md, "The in-memory mirror").
//
// Each AppendBatch writes, per edge it touched, one operand holding only that batch's contribution (its
// events' first/last time, their count, the last event's type and weight, the segments of its first and last
// event), in the same EncodeEdge bytes as a full value. RocksDB combines them at read, flush and compaction:
// times min/max, counts summed, type/weight of the newer operand, first segment min, last segment max. A full
// value written by an older binary (Put) is the base the operands combine with, so old stores read unchanged.
#pragma once

#include <memory>

#include "rocksdb/merge_operator.h"
#include "storage/codec.h"

namespace gpt4rec::storage {

// `newer` applied on top of `older` (either may itself be a combination of several operands: associative).
codec::EdgeValue CombineEdges(const codec::EdgeValue& older, const codec::EdgeValue& newer);

// The user_items (and item_users) column families' merge operator; its name is "gpt4rec.EdgeMerge.v1".
std::shared_ptr<rocksdb::MergeOperator> NewEdgeMergeOperator();

}  // namespace gpt4rec::storage
