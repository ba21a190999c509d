#include "storage/graph_mirror.h"

#include <algorithm>
#include <functional>

#include "absl/hash/hash.h"

namespace gpt4rec::storage {

std::optional<uint32_t> IdSpace::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return *it;
}

void IdSpace::Prefetch(std::string_view name) const { by_name_.prefetch(name); }

std::optional<std::string_view> IdSpace::Name(uint32_t id) const {
  if (id >= offset_.size() || offset_[id] == kNoName) return std::nullopt;
  return NameAt(id);
}

void IdSpace::Set(uint32_t id, std::string_view name) {
  if (name.empty() || name.size() > 256) return;  // validated before; never stored
  if (id >= offset_.size()) Reserve(id + 1);
  if (offset_[id] != kNoName) Remove(id);
  offset_[id] = static_cast<uint32_t>(arena_.size());
  len_minus_1_[id] = static_cast<uint8_t>(name.size() - 1);
  arena_.append(name.data(), name.size());
  by_name_.insert(id);
  ++live_;
}

void IdSpace::Remove(uint32_t id) {
  if (id >= offset_.size() || offset_[id] == kNoName) return;
  by_name_.erase(id);
  std::fill_n(arena_.begin() + offset_[id], size_t{len_minus_1_[id]} + 1, '\0');
  offset_[id] = kNoName;
  --live_;
}

void IdSpace::Reserve(uint32_t n, bool index_too) {
  if (index_too) by_name_.reserve(n);
  if (n <= offset_.size()) return;
  offset_.resize(n, kNoName);
  len_minus_1_.resize(n, 0);
}

uint64_t IdSpace::MemoryBytes() const {
  return arena_.capacity() + offset_.capacity() * sizeof(uint32_t) + len_minus_1_.capacity() +
         by_name_.capacity() * (sizeof(uint32_t) + 1);
}

void GraphMirror::ReserveEdges(uint64_t edges, uint32_t users, uint32_t items) {
  edge_slot_.reserve(edges);
  if (users > user_edges_.size()) user_edges_.resize(users);
  if (items > item_edges_.size()) item_edges_.resize(items);
}

void GraphMirror::PrefetchEdge(uint32_t user, uint32_t item) const { edge_slot_.prefetch(PairKey(user, item)); }

uint32_t GraphMirror::AddEdge(const MirrorEdge& e) {
  const uint32_t slot = num_slots_;
  edge_slot_.emplace(PairKey(e.user, e.item), slot);
  AddReservedEdge(slot, e);
  return slot;
}

uint32_t GraphMirror::FindOrReserveEdge(uint32_t user, uint32_t item, uint32_t new_slot, bool* reserved) {
  auto [it, inserted] = edge_slot_.try_emplace(PairKey(user, item), new_slot);
  *reserved = inserted;
  return it->second;
}

void GraphMirror::PrefetchLists(uint32_t user, uint32_t item) const {
  if (user < user_edges_.size()) __builtin_prefetch(&user_edges_[user]);
  if (item < item_edges_.size()) __builtin_prefetch(&item_edges_[item]);
}

void GraphMirror::AddReservedEdge(uint32_t slot, const MirrorEdge& e) {
  num_slots_ = slot + 1;
  if ((slot >> kChunkBits) == chunks_.size()) chunks_.push_back(std::make_unique<MirrorEdge[]>(kChunkMask + 1));
  mutable_edge(slot) = e;
  if (e.user >= user_edges_.size()) user_edges_.resize(e.user + 1);
  if (e.item >= item_edges_.size()) item_edges_.resize(e.item + 1);
  user_edges_[e.user].push_back(slot);
  item_edges_[e.item].push_back(slot);
  ++live_edges_;
}

std::vector<MirrorEdge> GraphMirror::RemoveUserEdges(uint32_t user) {
  std::vector<MirrorEdge> removed;
  if (user >= user_edges_.size()) return removed;
  for (uint32_t slot : user_edges_[user]) {
    MirrorEdge& e = mutable_edge(slot);
    removed.push_back(e);
    auto& item_list = item_edges_[e.item];
    item_list.erase(std::find(item_list.begin(), item_list.end(), slot));
    edge_slot_.erase(PairKey(e.user, e.item));
    e.value = codec::EdgeValue{};  // count 0: dead slot
    --live_edges_;
  }
  std::vector<uint32_t>().swap(user_edges_[user]);
  return removed;
}

const std::vector<uint32_t>& GraphMirror::UserEdgeSlots(uint32_t user) const {
  static const std::vector<uint32_t> kEmpty;
  return user < user_edges_.size() ? user_edges_[user] : kEmpty;
}

const std::vector<uint32_t>& GraphMirror::ItemEdgeSlots(uint32_t item) const {
  static const std::vector<uint32_t> kEmpty;
  return item < item_edges_.size() ? item_edges_[item] : kEmpty;
}

Csr GraphMirror::AccumulatedCsr(uint32_t segment) const {
  Csr csr;
  csr.num_users = users.size();
  csr.num_items = items.size();
  csr.indptr.assign(size_t{csr.num_users} + 1, 0);
  for (uint32_t slot = 0; slot < num_slots_; ++slot) {
    const MirrorEdge& e = edge(slot);
    if (e.value.count > 0 && e.value.first_segment <= segment) ++csr.indptr[e.user + 1];
  }
  for (uint32_t u = 0; u < csr.num_users; ++u) csr.indptr[u + 1] += csr.indptr[u];
  csr.indices.resize(static_cast<size_t>(csr.indptr[csr.num_users]));
  csr.last_segment.resize(csr.indices.size());
  std::vector<int64_t> cursor(csr.indptr.begin(), csr.indptr.end() - 1);
  // Items in ascending order: each user's row fills in ascending item order.
  for (uint32_t item = 0; item < item_edges_.size(); ++item)
    for (uint32_t slot : item_edges_[item]) {
      const MirrorEdge& e = edge(slot);
      if (e.value.count > 0 && e.value.first_segment <= segment) {
        csr.last_segment[cursor[e.user]] = e.value.last_segment;
        csr.indices[cursor[e.user]++] = static_cast<int32_t>(item);
      }
    }
  return csr;
}

uint64_t GraphMirror::MemoryBytes() const {
  uint64_t bytes = users.MemoryBytes() + items.MemoryBytes();
  bytes += chunks_.size() * (kChunkMask + 1) * sizeof(MirrorEdge);
  bytes += edge_slot_.capacity() * (sizeof(std::pair<uint64_t, uint32_t>) + 1);
  bytes += (user_edges_.capacity() + item_edges_.capacity()) * sizeof(std::vector<uint32_t>);
  for (const auto& l : user_edges_) bytes += l.capacity() * sizeof(uint32_t);
  for (const auto& l : item_edges_) bytes += l.capacity() * sizeof(uint32_t);
  bytes += event_ids.MemoryBytes();
  return bytes;
}

}  // namespace gpt4rec::storage
