// Private to storage/: one growable row of T per node (user or item), all rows in shared size-classed blocks.
//
// Why not std::vector<T> per node: a vector costs a 24-byte header per node plus a heap allocation (with the
// allocator's own ~16 bytes) per row, and doubling wastes a quarter of the capacity on average. Here a node
// costs an 8-byte header {block, size}, blocks come in capacities growing by ~1.5x (1, 2, 3, 4, 6, 9, 14, ...),
// and the block of a row is always the smallest class that holds its size, so the class is derived from the
// size and never stored. Blocks of a class live in fixed chunks (never moved when the pool grows), freed
// blocks go to a per-class free list and are reused. Not thread-safe (GraphMirror's owner locks).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

namespace gpt4rec::storage {

template <typename T>
class RowPool {
  static_assert(std::is_trivially_copyable_v<T>, "rows are moved with memcpy");

 public:
  uint32_t nodes() const { return static_cast<uint32_t>(rows_.size()); }
  void Resize(uint32_t nodes) {
    if (nodes > rows_.size()) rows_.resize(nodes);
  }
  uint32_t size(uint32_t node) const { return node < rows_.size() ? rows_[node].size : 0; }
  // Starts loading the node's header (block, size): what data() and Append read first.
  void PrefetchHeader(uint32_t node) const {
    if (node < rows_.size()) __builtin_prefetch(&rows_[node]);
  }
  T* data(uint32_t node) { return Block(ClassOf(rows_[node].size), rows_[node].block); }
  const T* data(uint32_t node) const { return Block(ClassOf(rows_[node].size), rows_[node].block); }

  // Appends one element (node must be < nodes()); moves the row to the next class when its block is full.
  void Append(uint32_t node, const T& value) {
    Row& r = rows_[node];
    MoveTo(node, r.size + 1);
    Block(ClassOf(r.size), r.block)[r.size - 1] = value;
  }
  // Removes the element at `index` by moving the last one into its place (rows whose order does not matter).
  void SwapRemove(uint32_t node, uint32_t index) {
    Row& r = rows_[node];
    T* d = data(node);
    d[index] = d[r.size - 1];
    MoveTo(node, r.size - 1);
  }
  // Truncates the row to `new_size` (<= size).
  void Shrink(uint32_t node, uint32_t new_size) { MoveTo(node, new_size); }
  void Clear(uint32_t node) { MoveTo(node, 0); }
  // Gives an empty row `n` elements in a block of exactly their class and returns them, uninitialised (Open
  // from a mirror image: one allocation per row instead of a move per class on the way up).
  T* Assign(uint32_t node, uint32_t n) {
    MoveTo(node, n);
    return data(node);
  }

  // Heap bytes: every chunk allocated, the headers, the free lists.
  uint64_t MemoryBytes() const {
    uint64_t bytes = rows_.capacity() * sizeof(Row);
    for (const Class& c : classes_) {
      bytes += c.chunks.size() * (uint64_t{kCaps[&c - classes_.data()]} << c.blocks_per_chunk_log2) * sizeof(T);
      bytes += c.chunks.capacity() * sizeof(void*) + c.free.capacity() * sizeof(uint32_t);
    }
    return bytes;
  }

 private:
  struct Row {
    uint32_t block = 0;  // block index within the class of `size`
    uint32_t size = 0;
  };
  struct Class {
    std::vector<std::unique_ptr<T[]>> chunks;
    std::vector<uint32_t> free;
    uint32_t used = 0;  // blocks handed out from the chunks (free ones included)
    uint32_t blocks_per_chunk_log2 = 0;
  };
  static constexpr uint32_t kChunkElements = 4096;  // small blocks share chunks of this many elements
  static constexpr int kClasses = 56;  // the last capacities reach UINT32_MAX
  // Capacity of each class: 1, 2, 3, 4 then x1.5 (rounded up); class 0 means "no block" (size 0).
  static constexpr std::array<uint32_t, kClasses> MakeCaps() {
    std::array<uint32_t, kClasses> caps{};
    caps[0] = 0;
    for (int c = 1; c < kClasses; ++c) {
      const uint64_t grown = c <= 4 ? c : (uint64_t{caps[c - 1]} * 3 + 1) / 2;
      caps[c] = grown > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(grown);
    }
    return caps;
  }
  static constexpr std::array<uint32_t, kClasses> kCaps = MakeCaps();
  // The class of every size up to kClassTableSizes, precomputed: every data() and Append derives the class
  // from the size, and the binary search over kCaps was a visible share of the writer's row lookups.
  static constexpr uint32_t kClassTableSizes = 4096;
  static constexpr std::array<uint8_t, kClassTableSizes + 1> MakeClassTable() {
    std::array<uint8_t, kClassTableSizes + 1> table{};
    int cls = 0;
    for (uint32_t size = 0; size <= kClassTableSizes; ++size) {
      while (kCaps[cls] < size) ++cls;
      table[size] = static_cast<uint8_t>(cls);
    }
    return table;
  }
  static constexpr std::array<uint8_t, kClassTableSizes + 1> kClassTable = MakeClassTable();
  static int ClassOf(uint32_t size) {
    if (size <= kClassTableSizes) return kClassTable[size];
    return static_cast<int>(std::lower_bound(kCaps.begin() + 5, kCaps.end(), size) - kCaps.begin());
  }

  T* Block(int cls, uint32_t block) const {
    if (cls == 0) return nullptr;
    const Class& c = classes_[cls];
    const uint32_t mask = (1u << c.blocks_per_chunk_log2) - 1;
    return c.chunks[block >> c.blocks_per_chunk_log2].get() + uint64_t{block & mask} * kCaps[cls];
  }
  uint32_t Allocate(int cls) {
    Class& c = classes_[cls];
    if (!c.free.empty()) {
      const uint32_t b = c.free.back();
      c.free.pop_back();
      return b;
    }
    if (c.chunks.empty()) {
      uint32_t log2 = 0;
      while ((uint64_t{kCaps[cls]} << (log2 + 1)) <= kChunkElements) ++log2;
      c.blocks_per_chunk_log2 = log2;
    }
    const uint32_t b = c.used++;
    if ((b >> c.blocks_per_chunk_log2) == c.chunks.size())
      c.chunks.emplace_back(new T[uint64_t{kCaps[cls]} << c.blocks_per_chunk_log2]);
    return b;
  }
  // Sets the row's size, moving its elements to a block of the new size's class when the class changes.
  void MoveTo(uint32_t node, uint32_t new_size) {
    Row& r = rows_[node];
    const int from = ClassOf(r.size), to = ClassOf(new_size);
    if (from != to) {
      uint32_t block = 0;
      if (to != 0) {
        block = Allocate(to);
        if (from != 0)
          std::memcpy(static_cast<void*>(Block(to, block)), Block(from, r.block),
                    sizeof(T) * std::min(r.size, new_size));
      }
      if (from != 0) classes_[from].free.push_back(r.block);
      r.block = block;
    }
    r.size = new_size;
  }

  std::vector<Row> rows_;
  std::array<Class, kClasses> classes_;
};

}  // namespace gpt4rec::storage
