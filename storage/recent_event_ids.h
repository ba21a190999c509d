// Private to storage/: the idempotency window — fingerprints of the most recent event ids, bounded in RAM.
//
// Exactly-once does not depend on it: every event id is also a key in RocksDB (meta 'E' + id, bloom-filtered),
// and an id the window does not hold is looked up there (one MultiGet per batch). The window only spares that
// lookup for the retries that matter most (recent ones) and for ids inside one batch's neighbourhood. It starts
// empty on Open (restart does not scan the ids).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace gpt4rec::storage {

class RecentEventIds {
 public:
  // 128-bit fingerprint (two independent 64-bit hashes): a false "seen" needs a 128-bit collision. Per-process
  // hash seeds are fine, the window is never persisted.
  struct Fingerprint {
    uint64_t a = 0, b = 0;
    bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
    template <typename H>
    friend H AbslHashValue(H h, const Fingerprint& f) {
      return H::combine(std::move(h), f.a);  // a is already a strong hash
    }
  };
  static Fingerprint Of(std::string_view event_id);

  explicit RecentEventIds(uint64_t capacity) : capacity_(capacity) {}
  bool Contains(const Fingerprint& f) const { return set_.contains(f); }
  // Adds f, evicting the oldest when full. capacity 0: holds nothing.
  void Add(const Fingerprint& f);
  // DeleteUser: the user's ids are gone from RocksDB too, so the same id is new again. (A stale ring entry
  // that is evicted later erases nothing or a re-added copy; either way RocksDB still answers.)
  void Erase(const Fingerprint& f) { set_.erase(f); }
  uint64_t size() const { return set_.size(); }
  uint64_t capacity() const { return capacity_; }
  uint64_t MemoryBytes() const {
    return set_.capacity() * (sizeof(Fingerprint) + 1) + ring_.capacity() * sizeof(Fingerprint);
  }

 private:
  const uint64_t capacity_;
  absl::flat_hash_set<Fingerprint> set_;
  std::vector<Fingerprint> ring_;  // insertion order; next_ is the oldest once full
  uint64_t next_ = 0;
};

}  // namespace gpt4rec::storage
