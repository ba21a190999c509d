// Private to storage/: the edge values of the batches appended since user_items last received an edge file.
//
// Why: writing one merge operand per edge per batch into user_items put a random insert into a sorted
// memtable on the append path (a skiplist is needed there because readers point-read the values; the
// unsorted vector memtable sorts itself on every read) and cost ~4x the writer's CPU per event. The event log
// is the durable record of every event, so the edge values can be derived later: the store accumulates each
// batch's contribution here (a few hundred thousand edges at most, see RocksGraphStore::PendingEdgeLimit),
// writes them as ONE sorted SST file of merge operands plus the sequence they cover (IngestExternalFile:
// atomic), and on Open replays the events after that sequence from the event log (store_recovery.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "storage/codec.h"
#include "storage/edge_merge.h"

namespace gpt4rec::storage {

class PendingEdges {
 public:
  static uint64_t Key(uint32_t user, uint32_t item) { return (uint64_t{user} << 32) | item; }
  // Combines `delta` (newer) with what is pending for the edge.
  void Add(uint32_t user, uint32_t item, const codec::EdgeValue& delta) {
    auto [it, inserted] = values_.try_emplace(Key(user, item), delta);
    if (!inserted) it->second = CombineEdges(it->second, delta);
  }
  // Starts loading the slot Add(user, item, ..) will touch (the publish loop, a few entries ahead).
  void Prefetch(uint32_t user, uint32_t item) const { values_.prefetch(Key(user, item)); }
  const codec::EdgeValue* Find(uint32_t user, uint32_t item) const {
    auto it = values_.find(Key(user, item));
    return it == values_.end() ? nullptr : &it->second;
  }
  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  // Empties the table but keeps its slots (the next cycle fills it again to about the same size: no
  // page faults and rehashes while it regrows).
  void Clear() {
    for (auto it = values_.begin(); it != values_.end();) values_.erase(it++);
  }
  void Reserve(size_t n) { values_.reserve(n); }
  // Calls fn(key, value) for every entry in ascending (user, item) order, the order an SST file is written in.
  // Only the 8-byte keys are copied out and sorted (into a buffer kept between files: a fresh vector per file
  // cost page faults, and sorting 48-byte entries moved 6x the bytes); each value is then found in the table.
  template <typename Fn>
  void ForEachSorted(Fn fn) const {
    keys_.clear();
    keys_.reserve(values_.size());
    for (const auto& [k, v] : values_) keys_.push_back(k);
    std::sort(keys_.begin(), keys_.end());
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (i + 8 < keys_.size()) values_.prefetch(keys_[i + 8]);
      fn(keys_[i], values_.find(keys_[i])->second);
    }
  }
  std::vector<std::pair<uint64_t, codec::EdgeValue>> Sorted() const {
    std::vector<std::pair<uint64_t, codec::EdgeValue>> out;
    out.reserve(values_.size());
    ForEachSorted([&](uint64_t k, const codec::EdgeValue& v) { out.emplace_back(k, v); });
    return out;
  }
  uint64_t MemoryBytes() const {
    return values_.capacity() * (sizeof(std::pair<uint64_t, codec::EdgeValue>) + 1) + keys_.capacity() * sizeof(uint64_t);
  }

 private:
  absl::flat_hash_map<uint64_t, codec::EdgeValue> values_;
  mutable std::vector<uint64_t> keys_;  // ForEachSorted's scratch (only the writer thread calls it)
};

}  // namespace gpt4rec::storage
