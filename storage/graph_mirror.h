// Private to storage/: the in-memory copy of the id maps and of the graph's structure (which edges exist, their
// first and last segments) that serves id lookups, degrees, the CSR and the append path's "is this edge new",
// so that AppendBatch never reads RocksDB and AccumulatedCsr is a pass over arrays. It is rebuilt from the
// names and user_items column families on Open. It is NOT thread-safe by itself: RocksGraphStore guards it
// (single writer, shared readers).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "storage/codec.h"
#include "storage/graph_store.h"
#include "storage/recent_event_ids.h"
#include "storage/row_pool.h"

namespace gpt4rec::storage {

// One edge as its user's row holds it: what the CSR and the hot readers need. Everything else about the edge
// (first/last time, count, last type and weight) is only on disk, in user_items (storage/edge_merge.h).
struct RowEdge {
  uint32_t item;
  uint32_t first_segment;
  uint32_t last_segment;
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

  // A name with its index hash, computed once (the append path prefetches by it, then finds by it).
  struct HashedName {
    std::string_view name;
    size_t hash;
  };
  static HashedName Hashed(std::string_view name) { return {name, absl::Hash<std::string_view>()(name)}; }
  std::optional<uint32_t> Find(std::string_view name) const;
  std::optional<uint32_t> Find(const HashedName& name) const;
  // Starts loading the memory Find(name) will touch (the append path looks up a whole batch ahead).
  void Prefetch(std::string_view name) const;
  void Prefetch(const HashedName& name) const;
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
  void Clear();  // no ids at all

 private:
  friend class MirrorImage;  // storage/mirror_image.cc writes and loads the arrays as they are
  static constexpr uint32_t kNoName = UINT32_MAX;
  std::string_view NameAt(uint32_t id) const { return {arena_.data() + offset_[id], size_t{len_minus_1_[id]} + 1}; }
  struct NameHash {
    using is_transparent = void;
    const IdSpace* space;
    size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>()(s); }
    size_t operator()(const HashedName& h) const { return h.hash; }
    size_t operator()(uint32_t id) const { return (*this)(space->NameAt(id)); }
  };
  struct NameEq {
    using is_transparent = void;
    const IdSpace* space;
    std::string_view View(std::string_view s) const { return s; }
    std::string_view View(uint32_t id) const { return space->NameAt(id); }
    std::string_view View(const HashedName& h) const { return h.name; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const { return View(a) == View(b); }
  };
  std::string arena_;
  std::vector<uint32_t> offset_;      // kNoName: unknown or removed
  std::vector<uint8_t> len_minus_1_;
  absl::flat_hash_set<uint32_t, NameHash, NameEq> by_name_;
  uint64_t live_ = 0;
};

// The adjacency: per user a row of RowEdge (12 bytes an edge), per item a row of user ids (4 bytes), both in
// RowPools (storage/row_pool.h). The writer finds an edge by searching its user's row: the row is a sorted
// prefix (binary search) and a short unsorted tail (linear scan) that is merged into the prefix once it
// outgrows max(16, sqrt(size)); rows under 32 edges are kept fully sorted by insertion. So no (user, item)
// hash index exists: it cost ~28 bytes an edge. Item rows are unordered (readers sort what they return).
class GraphMirror {
 public:
  IdSpace users;
  IdSpace items;
  // Idempotency window (storage/recent_event_ids.h): RAM bounded by StoreOptions::event_id_window.
  explicit GraphMirror(uint64_t event_id_window) : event_ids(event_id_window) {}
  RecentEventIds event_ids;

  static uint64_t PairKey(uint32_t user, uint32_t item) { return (uint64_t{user} << 32) | item; }

  // The edge's entry in its user's row, or nullptr.
  const RowEdge* FindEdge(uint32_t user, uint32_t item) const {
    return const_cast<GraphMirror*>(this)->MutableEdge(user, item);
  }
  // FindEdge for n (user, item) pairs at once: out[k] = the edge of pairs[k] or nullptr. The searches of up to
  // 16 pairs advance in lock step, so their cache misses overlap (one FindEdge at a time waits for each probe
  // of a long row in turn). The pointers stay valid until the mirror changes; writable for TouchEdge(RowEdge*).
  void FindEdges(const std::pair<uint32_t, uint32_t>* pairs, size_t n, RowEdge** out);
  // Raises the edge's last segment to `segment` (e: from FindEdges, the mirror unchanged since).
  static void TouchEdge(RowEdge* e, uint32_t segment) { e->last_segment = std::max(e->last_segment, segment); }
  // Starts loading the row FindEdge(user, ...) will search (the append path looks a whole batch up ahead).
  void PrefetchRow(uint32_t user) const;
  // Starts loading what PrefetchRow(user) reads first (the row's header and sorted length): issued a few
  // events ahead of PrefetchRow so that neither stalls.
  void PrefetchRowHeader(uint32_t user) const;
  // Starts loading the item row's header that AddEdge(.., item) appends to.
  void PrefetchItemAppend(uint32_t item) const;
  // Then (its header loaded) the slot that append writes.
  void PrefetchItemRowEnd(uint32_t item) const;
  // Adds an edge that is not in the mirror.
  void AddEdge(uint32_t user, const RowEdge& e);
  // Raises an existing edge's last segment to `segment` (no-op when the edge is absent).
  void TouchEdge(uint32_t user, uint32_t item, uint32_t segment);
  // Open: adds an edge read in (user, item) key order, so rows come out sorted with no search.
  void AddEdgeInKeyOrder(uint32_t user, const RowEdge& e);
  // Room for `users` and `items` ids.
  void ReserveNodes(uint32_t users, uint32_t items);
  // Removes every edge of `user`; returns their items (for writing the deletes).
  std::vector<uint32_t> RemoveUserEdges(uint32_t user);

  uint32_t UserDegree(uint32_t user) const { return user_rows_.size(user); }
  uint32_t ItemDegree(uint32_t item) const { return item_rows_.size(item); }
  std::vector<RowEdge> UserRow(uint32_t user) const;  // sorted by item
  std::vector<uint32_t> ItemRow(uint32_t item) const;  // sorted by user
  uint64_t live_edges() const { return live_edges_; }

  // Live edges with first_segment <= segment, user-major, items ascending: one pass over the user rows.
  Csr AccumulatedCsr(uint32_t segment) const;

  // Approximate heap bytes held (containers' capacities).
  uint64_t MemoryBytes() const;

  // Forgets every id and edge (the event-id window stays): Open falls back from an image to the scan.
  void Clear();

 private:
  friend class MirrorImage;  // storage/mirror_image.cc
  RowEdge* MutableEdge(uint32_t user, uint32_t item);
  RowPool<RowEdge> user_rows_;
  std::vector<uint32_t> user_sorted_;  // per user: length of the row's sorted prefix
  RowPool<uint32_t> item_rows_;
  uint64_t live_edges_ = 0;
};

}  // namespace gpt4rec::storage
