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
#include <memory>
#include <cstring>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "storage/codec.h"
#include "storage/edge_merge.h"

namespace gpt4rec::storage {

class PendingEdges {
 public:
  static uint64_t Key(uint32_t user, uint32_t item) { return (uint64_t{user} << 32) | item; }
  // Combines `delta` (newer) with what is pending for the edge.
  void Add(uint32_t user, uint32_t item, const codec::EdgeValue& delta) { AddAt(Key(user, item), delta); }
  // Adds every entry of `newer` (each combined as a newer delta).
  void AddAll(const PendingEdges& newer) {
    for (const auto& [key, v] : newer.values_) AddAt(key, v);
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
  // Calls fn(key, bytes, size) with every entry's key and its value encoded (codec::EncodeEdgeTo), in
  // ascending (user, item) order, the order an SST file is written in. One sequential pass over the table
  // encodes the values into a scratch buffer (walking the table in key order, or finding each sorted key in
  // it, was a cache miss per entry); then only 16-byte (key, offset) records are sorted. The scratch (~32 B
  // per entry) lives for the call only and is not zeroed.
  template <typename Fn>
  void ForEachSorted(Fn fn) const {
    struct Entry {
      uint64_t key;
      uint32_t offset;
      uint32_t size;
    };
    const size_t n = values_.size();
    std::unique_ptr<Entry[]> order(new Entry[n]);
    size_t capacity = n * 24 + codec::kMaxEdgeBytes;
    std::unique_ptr<char[]> bytes(new char[capacity]);
    size_t used = 0, k = 0;
    for (const auto& [key, v] : values_) {
      if (capacity < used + codec::kMaxEdgeBytes) {  // values average ~14 bytes: rare
        std::unique_ptr<char[]> more(new char[capacity * 2]);
        std::memcpy(more.get(), bytes.get(), used);
        bytes = std::move(more);
        capacity *= 2;
      }
      const size_t size = codec::EncodeEdgeTo(v, bytes.get() + used);
      order[k++] = {key, static_cast<uint32_t>(used), static_cast<uint32_t>(size)};
      used += size;
    }
    std::sort(order.get(), order.get() + n, [](const Entry& a, const Entry& b) { return a.key < b.key; });
    for (size_t i = 0; i < n; ++i) fn(order[i].key, bytes.get() + order[i].offset, size_t{order[i].size});
  }
  uint64_t MemoryBytes() const {
    return values_.capacity() * (sizeof(std::pair<uint64_t, codec::EdgeValue>) + 1);
  }

 private:
  void AddAt(uint64_t key, const codec::EdgeValue& delta) {
    auto [it, inserted] = values_.try_emplace(key, delta);
    if (!inserted) it->second = CombineEdges(it->second, delta);
  }

  absl::flat_hash_map<uint64_t, codec::EdgeValue> values_;
};

}  // namespace gpt4rec::storage
