#include "storage/graph_mirror.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/hash/hash.h"

namespace gpt4rec::storage {

std::optional<uint32_t> IdSpace::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return *it;
}

std::optional<uint32_t> IdSpace::Find(const HashedName& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return *it;
}

void IdSpace::Prefetch(std::string_view name) const { by_name_.prefetch(name); }
void IdSpace::Prefetch(const HashedName& name) const { by_name_.prefetch(name); }

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

void IdSpace::Clear() {
  by_name_.clear();
  arena_.clear();
  offset_.clear();
  len_minus_1_.clear();
  live_ = 0;
}

uint64_t IdSpace::MemoryBytes() const {
  return arena_.capacity() + offset_.capacity() * sizeof(uint32_t) + len_minus_1_.capacity() +
         by_name_.capacity() * (sizeof(uint32_t) + 1);
}

namespace {

// A function object, not a function: std::sort, inplace_merge and upper_bound inline it (through a function
// pointer every comparison of AddEdge's merges was an indirect call).
struct ByItemLess {
  bool operator()(const RowEdge& a, const RowEdge& b) const { return a.item < b.item; }
};
constexpr ByItemLess ByItem{};

// Rows shorter than this stay fully sorted (an insertion moves at most this many entries).
constexpr uint32_t kSmallRow = 32;

// Longest unsorted tail a row of `sorted` sorted entries keeps: a lookup scans it linearly, a merge moves the
// whole row, so sqrt balances the two (a merge every sqrt(n) inserts costs O(sqrt n) moves per insert).
uint32_t TailLimit(uint32_t sorted) {
  return std::max<uint32_t>(16, static_cast<uint32_t>(std::sqrt(static_cast<double>(sorted))));
}

}  // namespace

void GraphMirror::ReserveNodes(uint32_t users, uint32_t items) {
  user_rows_.Resize(users);
  if (users > user_sorted_.size()) user_sorted_.resize(users, 0);
  item_rows_.Resize(items);
}

void GraphMirror::PrefetchRowHeader(uint32_t user) const {
  user_rows_.PrefetchHeader(user);
  if (user < user_sorted_.size()) __builtin_prefetch(&user_sorted_[user]);
}

void GraphMirror::PrefetchRow(uint32_t user) const {
  if (user >= user_rows_.nodes()) return;
  const uint32_t n = user_rows_.size(user);
  if (n == 0) return;
  const RowEdge* row = user_rows_.data(user);
  __builtin_prefetch(row);
  // The binary search's first probe and the start of the unsorted tail (rows past a few cache lines).
  const uint32_t sorted = user_sorted_[user];
  if (n > 8) {
    __builtin_prefetch(row + sorted / 2);
    if (sorted < n) __builtin_prefetch(row + sorted);
  }
}

void GraphMirror::PrefetchItemAppend(uint32_t item) const { item_rows_.PrefetchHeader(item); }

void GraphMirror::PrefetchItemRowEnd(uint32_t item) const {
  const uint32_t n = item_rows_.size(item);
  if (n > 0) __builtin_prefetch(item_rows_.data(item) + n, 1);
}

RowEdge* GraphMirror::MutableEdge(uint32_t user, uint32_t item) {
  const uint32_t n = user_rows_.size(user);
  if (n == 0) return nullptr;
  RowEdge* row = user_rows_.data(user);
  const uint32_t sorted = user_sorted_[user];
  if (sorted > 0) {
    // Branchless lower bound over the sorted prefix (the branchy std::lower_bound mispredicted at every
    // probe); the next probes of both halves are prefetched for rows longer than a few cache lines.
    RowEdge* first = row;
    uint32_t len = sorted;
    while (len > 1) {
      const uint32_t half = len / 2;
      if (len > 32) {
        __builtin_prefetch(first + half / 2);
        __builtin_prefetch(first + half + half / 2);
      }
      first = first[half].item < item ? first + half : first;
      len -= half;
    }
    first += first->item < item;
    if (first != row + sorted && first->item == item) return first;
  }
  for (RowEdge* e = row + sorted; e != row + n; ++e)
    if (e->item == item) return e;
  return nullptr;
}

void GraphMirror::FindEdges(const std::pair<uint32_t, uint32_t>* pairs, size_t n, RowEdge** out) {
  constexpr size_t kGroup = 16;
  struct Search {
    RowEdge* row;    // the user's row (nullptr: empty)
    RowEdge* first;  // the sorted prefix's candidate range starts here
    uint32_t len;    // ... and holds this many entries (> 1: still searching)
    uint32_t sorted, size, item;
  };
  for (size_t base = 0; base < n; base += kGroup) {
    const size_t g = std::min(kGroup, n - base);
    Search st[kGroup];
    for (size_t j = 0; j < g; ++j) {
      const auto [user, item] = pairs[base + j];
      Search& q = st[j];
      q.item = item;
      q.size = user_rows_.size(user);
      q.row = q.size == 0 ? nullptr : user_rows_.data(user);
      q.sorted = q.size == 0 ? 0 : user_sorted_[user];
      q.first = q.row;
      q.len = q.sorted;
      if (q.len > 1) __builtin_prefetch(q.first + q.len / 2);
    }
    // Branchless lower bound over each sorted prefix, one probe per search per round; each search's next
    // probe is prefetched for the next round.
    for (bool more = true; more;) {
      more = false;
      for (size_t j = 0; j < g; ++j) {
        Search& q = st[j];
        if (q.len <= 1) continue;
        const uint32_t half = q.len / 2;
        q.first = q.first[half].item < q.item ? q.first + half : q.first;
        q.len -= half;
        if (q.len > 1) {
          __builtin_prefetch(q.first + q.len / 2);
          more = true;
        }
      }
    }
    for (size_t j = 0; j < g; ++j) {
      Search& q = st[j];
      RowEdge* found = nullptr;
      if (q.sorted > 0) {
        RowEdge* at = q.first + (q.first->item < q.item);
        if (at != q.row + q.sorted && at->item == q.item) found = at;
      }
      if (found == nullptr)
        for (RowEdge* e = q.row + q.sorted; e != q.row + q.size; ++e)
          if (e->item == q.item) {
            found = e;
            break;
          }
      out[base + j] = found;
    }
  }
}

void GraphMirror::AddEdge(uint32_t user, const RowEdge& e) {
  ReserveNodes(user + 1, e.item + 1);
  const uint32_t n = user_rows_.size(user);
  uint32_t& sorted = user_sorted_[user];
  user_rows_.Append(user, e);
  RowEdge* row = user_rows_.data(user);
  if (n < kSmallRow && sorted == n) {
    std::rotate(std::upper_bound(row, row + n, e, ByItem), row + n, row + n + 1);
    sorted = n + 1;
  } else if (n + 1 - sorted > TailLimit(sorted)) {
    std::sort(row + sorted, row + n + 1, ByItem);
    std::inplace_merge(row, row + sorted, row + n + 1, ByItem);
    sorted = n + 1;
  }
  item_rows_.Append(e.item, user);
  ++live_edges_;
}

void GraphMirror::AddEdgeInKeyOrder(uint32_t user, const RowEdge& e) {
  ReserveNodes(user + 1, e.item + 1);
  const uint32_t n = user_rows_.size(user);
  user_rows_.Append(user, e);
  if (user_sorted_[user] == n && (n == 0 || user_rows_.data(user)[n - 1].item < e.item)) user_sorted_[user] = n + 1;
  item_rows_.Append(e.item, user);
  ++live_edges_;
}

void GraphMirror::TouchEdge(uint32_t user, uint32_t item, uint32_t segment) {
  if (RowEdge* e = MutableEdge(user, item)) e->last_segment = std::max(e->last_segment, segment);
}

std::vector<uint32_t> GraphMirror::RemoveUserEdges(uint32_t user) {
  std::vector<uint32_t> removed;
  const uint32_t n = user_rows_.size(user);
  if (n == 0) return removed;
  const RowEdge* row = user_rows_.data(user);
  removed.reserve(n);
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t item = row[k].item;
    removed.push_back(item);
    const uint32_t* users_of = item_rows_.data(item);
    const uint32_t at = static_cast<uint32_t>(std::find(users_of, users_of + item_rows_.size(item), user) - users_of);
    item_rows_.SwapRemove(item, at);
    --live_edges_;
  }
  user_rows_.Clear(user);
  user_sorted_[user] = 0;
  return removed;
}

namespace {

// A copy of one row, sorted (`sorted`: it is already).
template <typename T, typename Less>
std::vector<T> SortedCopy(const RowPool<T>& pool, uint32_t node, bool sorted, Less less) {
  const uint32_t n = pool.size(node);
  if (n == 0) return {};
  std::vector<T> out(pool.data(node), pool.data(node) + n);
  if (!sorted) std::sort(out.begin(), out.end(), less);
  return out;
}

}  // namespace

std::vector<RowEdge> GraphMirror::UserRow(uint32_t user) const {
  return SortedCopy(user_rows_, user, user < user_sorted_.size() && user_sorted_[user] == user_rows_.size(user),
                    ByItem);
}

std::vector<uint32_t> GraphMirror::ItemRow(uint32_t item) const {
  return SortedCopy(item_rows_, item, /*sorted=*/false, std::less<uint32_t>());
}

Csr GraphMirror::AccumulatedCsr(uint32_t segment) const {
  Csr csr;
  csr.num_users = users.size();
  csr.num_items = items.size();
  csr.indptr.assign(size_t{csr.num_users} + 1, 0);
  const uint32_t rows = std::min(csr.num_users, user_rows_.nodes());
  for (uint32_t u = 0; u < rows; ++u) {
    const uint32_t n = user_rows_.size(u);
    if (n == 0) continue;
    const RowEdge* row = user_rows_.data(u);
    int64_t kept = 0;
    for (uint32_t k = 0; k < n; ++k) kept += row[k].first_segment <= segment;
    csr.indptr[u + 1] = kept;
  }
  for (uint32_t u = 0; u < csr.num_users; ++u) csr.indptr[u + 1] += csr.indptr[u];
  csr.indices.resize(static_cast<size_t>(csr.indptr[csr.num_users]));
  csr.last_segment.resize(csr.indices.size());
  std::vector<RowEdge> unsorted;
  for (uint32_t u = 0; u < rows; ++u) {
    const uint32_t n = user_rows_.size(u);
    if (n == 0) continue;
    const RowEdge* row = user_rows_.data(u);
    const RowEdge* begin = row;
    const RowEdge* end = row + n;
    if (user_sorted_[u] < n) {  // a tail not merged yet: this row alone is sorted here
      unsorted.assign(row, row + n);
      std::sort(unsorted.begin(), unsorted.end(), ByItem);
      begin = unsorted.data();
      end = begin + n;
    }
    int64_t at = csr.indptr[u];
    for (const RowEdge* e = begin; e != end; ++e)
      if (e->first_segment <= segment) {
        csr.indices[at] = static_cast<int32_t>(e->item);
        csr.last_segment[at++] = e->last_segment;
      }
  }
  return csr;
}

void GraphMirror::Clear() {
  users.Clear();
  items.Clear();
  user_rows_ = RowPool<RowEdge>();
  item_rows_ = RowPool<uint32_t>();
  user_sorted_.clear();
  live_edges_ = 0;
}

uint64_t GraphMirror::MemoryBytes() const {
  return users.MemoryBytes() + items.MemoryBytes() + user_rows_.MemoryBytes() + item_rows_.MemoryBytes() +
         user_sorted_.capacity() * sizeof(uint32_t) + event_ids.MemoryBytes();
}

}  // namespace gpt4rec::storage
