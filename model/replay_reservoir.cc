#include "model/replay_reservoir.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "model/graph_ops.h"

namespace gpt4rec::model {

EdgeList ReservoirEdges(const Graph& old_graph, int64_t capacity, uint64_t seed) {
  EdgeList out;
  const int64_t E = static_cast<int64_t>(old_graph.indices.size());
  if (capacity <= 0 || capacity >= E) {
    out.users.reserve(E);
    for (int32_t u = 0; u < old_graph.num_users; ++u)
      for (int64_t j = old_graph.indptr[u]; j < old_graph.indptr[u + 1]; ++j) out.users.push_back(u);
    out.items = old_graph.indices;
    return out;
  }
  // Bottom-`capacity` by a hash of the edge itself: membership does not depend on arrival order or on the
  // segment, so the reservoir at t+1 keeps exactly those of t's edges that no new edge outranked.
  std::vector<std::pair<uint64_t, int64_t>> keyed(E);
  int64_t k = 0;
  for (int32_t u = 0; u < old_graph.num_users; ++u)
    for (int64_t j = old_graph.indptr[u]; j < old_graph.indptr[u + 1]; ++j, ++k)
      keyed[k] = {MixSeed(MixSeed(seed, static_cast<uint64_t>(u)), static_cast<uint64_t>(old_graph.indices[j])), k};
  std::nth_element(keyed.begin(), keyed.begin() + capacity, keyed.end());
  std::vector<int64_t> kept(capacity);
  for (int64_t c = 0; c < capacity; ++c) kept[c] = keyed[c].second;
  std::sort(kept.begin(), kept.end());
  out.users.reserve(capacity);
  out.items.reserve(capacity);
  int32_t u = 0;
  for (int64_t pos : kept) {
    while (old_graph.indptr[u + 1] <= pos) ++u;
    out.users.push_back(u);
    out.items.push_back(old_graph.indices[pos]);
  }
  return out;
}

std::vector<double> ReplayWeights(const EdgeList& reservoir, ReplayWeighting weighting) {
  std::vector<double> w(reservoir.size(), 1.0);
  if (weighting == ReplayWeighting::kUniform || reservoir.size() == 0) return w;
  const int32_t max_user = *std::max_element(reservoir.users.begin(), reservoir.users.end());
  std::vector<int64_t> degree(static_cast<size_t>(max_user) + 1, 0);
  for (int32_t u : reservoir.users) ++degree[u];
  for (size_t k = 0; k < w.size(); ++k) w[k] = 1.0 / static_cast<double>(degree[reservoir.users[k]]);
  return w;
}

std::vector<int64_t> DrawCounts(const std::vector<double>& weights, int64_t draws, uint64_t seed) {
  std::vector<int64_t> counts(weights.size(), 0);
  if (weights.empty() || draws <= 0) return counts;
  std::vector<double> cumulative(weights.size());
  std::partial_sum(weights.begin(), weights.end(), cumulative.begin());
  const double total = cumulative.back();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, total);
  for (int64_t d = 0; d < draws; ++d) {
    const double x = unit(rng);
    size_t k = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), x) - cumulative.begin());
    ++counts[std::min(k, weights.size() - 1)];
  }
  return counts;
}

EdgeList DrawnEdges(const EdgeList& reservoir, const std::vector<int64_t>& counts) {
  EdgeList out;
  for (size_t k = 0; k < reservoir.size(); ++k) {
    if (counts[k] == 0) continue;
    out.users.push_back(reservoir.users[k]);
    out.items.push_back(reservoir.items[k]);
  }
  return out;
}

}  // namespace gpt4rec::model
