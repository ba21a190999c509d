// Private to storage/: the in-memory copy of the graph that serves every adjacency and id read, so that
// AppendBatch never reads RocksDB and AccumulatedCsr is a pass over arrays. It is rebuilt from the ids, names,
// user_items and meta column families on Open. It is NOT thread-safe by itself: RocksGraphStore guards it
// (single writer, shared readers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "storage/codec.h"
#include "storage/graph_store.h"
#include "storage/recent_event_ids.h"

namespace gpt4rec::storage {

struct MirrorEdge {
  uint32_t user = 0;
  uint32_t item = 0;
  codec::EdgeValue value;  // value.count == 0 marks a removed edge (its slot is not reused)
};

// Dense ids <-> external ids for one side (users or items). A removed id keeps its slot with no name.
//
// Layout (why: a std::string per id plus a node of a string-keyed hash map cost ~100 bytes per id): the names
// are concatenated in one arena, each id has a 32-bit offset and its length - 1 (ids are 1..256 bytes), and the
// index is a hash set of 32-bit ids whose hash and equality read the arena, looked up by string_view. About
// 10 bytes per id plus the name.
class IdSpace {
 public:
  IdSpace() : by_name_(0, NameHash{this}, NameEq{this}) {}
  IdSpace(const IdSpace&) = delete;  // the index's functors point at this object
  IdSpace& operator=(const IdSpace&) = delete;

  std::optional<uint32_t> Find(std::string_view name) const;
  // Starts loading the memory Find(name) will touch (the append path looks up a whole batch ahead).
  void Prefetch(std::string_view name) const;
  std::optional<std::string_view> Name(uint32_t id) const;  // nullopt when unknown or removed
  uint32_t size() const { return static_cast<uint32_t>(offset_.size()); }
  uint64_t live() const { return live_; }
  // Places `name` (1..256 bytes) at `id` (>= size(): the gap in between becomes removed slots).
  void Set(uint32_t id, std::string_view name);
  // Forgets the id and overwrites its name's bytes in the arena (they are not reused).
  void Remove(uint32_t id);
  // Grows the id space to `n` slots (slots past the last name were removed); `index_too`: and sizes the
  // name index for n names (Open, before inserting them).
  void Reserve(uint32_t n, bool index_too = false);
  uint64_t MemoryBytes() const;

 private:
  static constexpr uint32_t kNoName = UINT32_MAX;
  std::string_view NameAt(uint32_t id) const { return {arena_.data() + offset_[id], size_t{len_minus_1_[id]} + 1}; }
  struct NameHash {
    using is_transparent = void;
    const IdSpace* space;
    size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>()(s); }
    size_t operator()(uint32_t id) const { return (*this)(space->NameAt(id)); }
  };
  struct NameEq {
    using is_transparent = void;
    const IdSpace* space;
    std::string_view View(std::string_view s) const { return s; }
    std::string_view View(uint32_t id) const { return space->NameAt(id); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return View(a) == View(b); }
  };
  std::string arena_;
  std::vector<uint32_t> offset_;      // kNoName: unknown or removed
  std::vector<uint8_t> len_minus_1_;
  absl::flat_hash_set<uint32_t, NameHash, NameEq> by_name_;
  uint64_t live_ = 0;
};

class GraphMirror {
 public:
  IdSpace users;
  IdSpace items;
  // Idempotency window (storage/recent_event_ids.h): RAM bounded by StoreOptions::event_id_window.
  explicit GraphMirror(uint64_t event_id_window) : event_ids(event_id_window) {}
  RecentEventIds event_ids;

  static uint64_t PairKey(uint32_t user, uint32_t item) { return (uint64_t{user} << 32) | item; }
  void PrefetchEdge(uint32_t user, uint32_t item) const;
  const MirrorEdge& edge(uint32_t slot) const { return chunks_[slot >> kChunkBits][slot & kChunkMask]; }
  MirrorEdge& mutable_edge(uint32_t slot) { return chunks_[slot >> kChunkBits][slot & kChunkMask]; }
  uint32_t AddEdge(const MirrorEdge& e);  // (user, item) must be new; grows the adjacency lists as needed
  // The writer's two-step insert, so the big index is probed once per edge: FindOrReserveEdge returns the
  // edge's slot, reserving `new_slot` for it when absent (reserved = true); readers never consult the index.
  // Then either AddReservedEdge in slot order once the write is durable, or ForgetReservedEdge to undo.
  uint32_t FindOrReserveEdge(uint32_t user, uint32_t item, uint32_t new_slot, bool* reserved);
  void AddReservedEdge(uint32_t slot, const MirrorEdge& e);
  void ForgetReservedEdge(uint32_t user, uint32_t item) { edge_slot_.erase(PairKey(user, item)); }
  uint32_t num_slots() const { return num_slots_; }
  // Open: room for about `edges` edges between `users` and `items` ids.
  void ReserveEdges(uint64_t edges, uint32_t users, uint32_t items);
  // Starts loading the adjacency-list headers AddReservedEdge will touch.
  void PrefetchLists(uint32_t user, uint32_t item) const;
  // Removes every edge of `user` and returns them (for writing the deletes).
  std::vector<MirrorEdge> RemoveUserEdges(uint32_t user);

  const std::vector<uint32_t>& UserEdgeSlots(uint32_t user) const;
  const std::vector<uint32_t>& ItemEdgeSlots(uint32_t item) const;
  uint64_t live_edges() const { return live_edges_; }

  // Live edges with first_segment <= segment, user-major, items ascending. Counting pass over the edge array
  // then one placement pass in item order, so no per-row sort is needed.
  Csr AccumulatedCsr(uint32_t segment) const;

  // Approximate heap bytes held (containers' capacities).
  uint64_t MemoryBytes() const;

 private:
  // Edge slots in fixed-size chunks: growing never copies the existing edges.
  static constexpr uint32_t kChunkBits = 16;
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;
  std::vector<std::unique_ptr<MirrorEdge[]>> chunks_;
  uint32_t num_slots_ = 0;
  absl::flat_hash_map<uint64_t, uint32_t> edge_slot_;
  std::vector<std::vector<uint32_t>> user_edges_;
  std::vector<std::vector<uint32_t>> item_edges_;
  uint64_t live_edges_ = 0;
};

}  // namespace gpt4rec::storage
