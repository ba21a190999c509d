// Private to storage/: interning of external ids during one AppendBatch.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "storage/graph_mirror.h"

namespace gpt4rec::storage {

// Resolves external ids to dense ids during one batch: known ids from the mirror, new ones numbered from
// `next` (applied to the mirror only after the WriteBatch succeeded).
class BatchInterner {
 public:
  BatchInterner(const IdSpace& known, uint32_t next) : known_(known), next_(next) {}
  uint32_t Resolve(std::string_view name) { return Resolve(IdSpace::Hashed(name)); }
  uint32_t Resolve(const IdSpace::HashedName& hashed) {
    if (auto id = known_.Find(hashed)) return *id;
    const std::string_view name = hashed.name;
    auto [it, inserted] = fresh_.try_emplace(name, next_);
    if (inserted) {
      added_.emplace_back(name, next_);
      ++next_;
    }
    return it->second;
  }
  uint32_t next() const { return next_; }
  const std::vector<std::pair<std::string_view, uint32_t>>& added() const { return added_; }

 private:
  const IdSpace& known_;
  uint32_t next_;
  absl::flat_hash_map<std::string_view, uint32_t> fresh_;
  std::vector<std::pair<std::string_view, uint32_t>> added_;
};

}  // namespace gpt4rec::storage
