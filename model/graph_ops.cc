#include "model/graph_ops.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "util/split_mix64.h"

namespace gpt4rec::model {

absl::Status ValidateGraph(const Graph& g) {
  if (g.num_users < 0) return absl::InvalidArgumentError("graph.num_users: negative");
  if (g.num_items < 0) return absl::InvalidArgumentError("graph.num_items: negative");
  if (g.indptr.size() != static_cast<size_t>(g.num_users) + 1)
    return absl::InvalidArgumentError(absl::StrCat("graph.indptr: size ", g.indptr.size(), ", expected num_users+1 = ",
                                                   static_cast<int64_t>(g.num_users) + 1));
  if (g.indptr[0] != 0) return absl::InvalidArgumentError("graph.indptr[0]: must be 0");
  for (int32_t u = 0; u < g.num_users; ++u)
    if (g.indptr[u + 1] < g.indptr[u])
      return absl::InvalidArgumentError(absl::StrCat("graph.indptr[", u + 1, "]: decreasing"));
  if (g.indptr.back() != static_cast<int64_t>(g.indices.size()))
    return absl::InvalidArgumentError(absl::StrCat("graph.indptr[", g.num_users, "]: ", g.indptr.back(),
                                                   " != indices.size() ", g.indices.size()));
  for (size_t j = 0; j < g.indices.size(); ++j)
    if (g.indices[j] < 0 || g.indices[j] >= g.num_items)
      return absl::InvalidArgumentError(
          absl::StrCat("graph.indices[", j, "]: item ", g.indices[j], " outside [0, ", g.num_items, ")"));
  if (!g.edge_age.empty() && g.edge_age.size() != g.indices.size())
    return absl::InvalidArgumentError(absl::StrCat("graph.edge_age: size ", g.edge_age.size(),
                                                   ", expected 0 or indices.size() ", g.indices.size()));
  for (size_t j = 0; j < g.edge_age.size(); ++j)
    if (g.edge_age[j] < 0) return absl::InvalidArgumentError(absl::StrCat("graph.edge_age[", j, "]: negative"));
  return absl::OkStatus();
}

BipartiteCsr PrepareGraph(const Graph& g) {
  BipartiteCsr b;
  b.num_users = g.num_users;
  b.num_items = g.num_items;
  b.user_ptr.assign(g.num_users + 1, 0);
  b.user_items.reserve(g.indices.size());
  const bool aged = !g.edge_age.empty();
  std::vector<std::pair<int32_t, int32_t>> row;  // (item, age): a duplicate edge keeps its youngest age
  for (int32_t u = 0; u < g.num_users; ++u) {
    row.clear();
    for (int64_t j = g.indptr[u]; j < g.indptr[u + 1]; ++j) row.emplace_back(g.indices[j], aged ? g.edge_age[j] : 0);
    std::sort(row.begin(), row.end());
    for (size_t k = 0; k < row.size(); ++k) {
      if (k > 0 && row[k].first == row[k - 1].first) continue;
      b.user_items.push_back(row[k].first);
      if (aged) b.user_age.push_back(row[k].second);
    }
    b.user_ptr[u + 1] = static_cast<int64_t>(b.user_items.size());
  }
  // Transpose by counting sort; users are visited in ascending order so item rows come out sorted.
  b.item_ptr.assign(g.num_items + 1, 0);
  for (int32_t i : b.user_items) ++b.item_ptr[i + 1];
  for (int32_t i = 0; i < g.num_items; ++i) b.item_ptr[i + 1] += b.item_ptr[i];
  b.item_users.resize(b.user_items.size());
  std::vector<int64_t> fill(b.item_ptr.begin(), b.item_ptr.end() - 1);
  for (int32_t u = 0; u < g.num_users; ++u)
    for (int64_t j = b.user_ptr[u]; j < b.user_ptr[u + 1]; ++j) b.item_users[fill[b.user_items[j]]++] = u;
  return b;
}

void TwoHopMeanInit(const BipartiteCsr& g, Side side, const float* old_rows, int32_t first_new, int32_t count,
                    int dim, float* out, bool distinct) {
  const bool users = side == Side::kUser;
  const int64_t* ptr = users ? g.user_ptr.data() : g.item_ptr.data();
  const int32_t* adj = users ? g.user_items.data() : g.item_users.data();
  const int64_t* back_ptr = users ? g.item_ptr.data() : g.user_ptr.data();
  const int32_t* back_adj = users ? g.item_users.data() : g.user_items.data();

  std::vector<double> old_mean(dim, 0.0);
  for (int32_t r = 0; r < first_new; ++r)
    for (int k = 0; k < dim; ++k) old_mean[k] += old_rows[static_cast<int64_t>(r) * dim + k];
  for (int k = 0; k < dim; ++k) old_mean[k] = first_new > 0 ? old_mean[k] / first_new : 0.0;

  if (!distinct) {
    // Sum and count of old same-side neighbours per middle node, only for middle nodes next to a new node.
    const int32_t n_mid = users ? g.num_items : g.num_users;
    std::vector<int32_t> slot(n_mid, -1);
    std::vector<int32_t> mids;
    for (int32_t n = 0; n < count; ++n)
      for (int64_t a = ptr[first_new + n]; a < ptr[first_new + n + 1]; ++a)
        if (slot[adj[a]] < 0) {
          slot[adj[a]] = static_cast<int32_t>(mids.size());
          mids.push_back(adj[a]);
        }
    std::vector<double> mid_sum(mids.size() * static_cast<size_t>(dim), 0.0);
    std::vector<int64_t> mid_count(mids.size(), 0);
    for (size_t m = 0; m < mids.size(); ++m) {
      double* acc_m = mid_sum.data() + m * dim;
      for (int64_t b = back_ptr[mids[m]]; b < back_ptr[mids[m] + 1]; ++b) {
        const int32_t other = back_adj[b];
        if (other >= first_new) continue;
        const float* src = old_rows + static_cast<int64_t>(other) * dim;
        for (int k = 0; k < dim; ++k) acc_m[k] += src[k];
        ++mid_count[m];
      }
    }
    std::vector<double> acc(dim);
    for (int32_t n = 0; n < count; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      int64_t paths = 0;
      for (int64_t a = ptr[first_new + n]; a < ptr[first_new + n + 1]; ++a) {
        const int32_t m = slot[adj[a]];
        const double* src = mid_sum.data() + static_cast<size_t>(m) * dim;
        for (int k = 0; k < dim; ++k) acc[k] += src[k];
        paths += mid_count[m];
      }
      float* dst = out + static_cast<int64_t>(n) * dim;
      for (int k = 0; k < dim; ++k)
        dst[k] = static_cast<float>(paths > 0 ? acc[k] / paths : old_mean[k]);
    }
    return;
  }

  std::vector<uint8_t> seen(first_new, 0);
  std::vector<int32_t> found;
  std::vector<double> acc(dim);
  for (int32_t n = 0; n < count; ++n) {
    const int32_t node = first_new + n;
    found.clear();
    for (int64_t a = ptr[node]; a < ptr[node + 1]; ++a) {
      const int32_t mid = adj[a];
      for (int64_t b = back_ptr[mid]; b < back_ptr[mid + 1]; ++b) {
        const int32_t other = back_adj[b];
        if (other < first_new && !seen[other]) {
          seen[other] = 1;
          found.push_back(other);
        }
      }
    }
    float* dst = out + static_cast<int64_t>(n) * dim;
    if (found.empty()) {
      for (int k = 0; k < dim; ++k) dst[k] = static_cast<float>(old_mean[k]);
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int32_t o : found) {
      const float* src = old_rows + static_cast<int64_t>(o) * dim;
      for (int k = 0; k < dim; ++k) acc[k] += src[k];
      seen[o] = 0;
    }
    for (int k = 0; k < dim; ++k) dst[k] = static_cast<float>(acc[k] / found.size());
  }
}

void SampleNegatives(const BipartiteCsr& g, const int32_t* users, int64_t begin, int64_t end, int negatives,
                     uint64_t seed, int64_t* out) {
  std::mt19937_64 rng(seed);
  const uint64_t n_items = static_cast<uint64_t>(g.num_items);
  for (int64_t p = begin; p < end; ++p) {
    const int32_t u = users[p];
    const int32_t* row_begin = g.user_items.data() + g.user_ptr[u];
    const int32_t* row_end = g.user_items.data() + g.user_ptr[u + 1];
    for (int n = 0; n < negatives; ++n) {
      int32_t j = 0;
      for (int attempt = 0; attempt < 64; ++attempt) {
        j = static_cast<int32_t>(rng() % n_items);
        if (!std::binary_search(row_begin, row_end, j)) break;
      }
      out[p * negatives + n] = j;
    }
  }
}

uint64_t MixSeed(uint64_t a, uint64_t b) { return util::SplitMix64(a + util::kSplitMix64Gamma * b); }

}  // namespace gpt4rec::model
