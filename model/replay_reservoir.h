// Private, torch-free: experience replay's old edges (DEGC's `uniform` and `inverse_deg` reservoir selections).
// At segment t the reservoir holds edges of segments 0..t-1; round(replay_ratio x old edges) draws with
// replacement pick the edges replayed beside the segment's own. Everything is a function of the previous
// accumulated graph and the seed, so a checkpoint (which stores that graph) carries the reservoir with it.
#pragma once

#include <cstdint>
#include <vector>

#include "model/recommender_model.h"

namespace gpt4rec::model {

struct EdgeList {
  std::vector<int32_t> users, items;
  size_t size() const { return users.size(); }
};

// capacity 0: every edge of `old_graph` (DEGC's README commands, `-rs full`). capacity N > 0: the N edges with
// the smallest seeded hash of (user, item) — a uniform sample without replacement of the edges seen so far that
// evolves as a reservoir does (an edge, once evicted by edges with smaller hashes, never returns), without state
// beyond the graph. User-major order.
EdgeList ReservoirEdges(const Graph& old_graph, int64_t capacity, uint64_t seed);

enum class ReplayWeighting { kUniform, kInverseDegree };

// Unnormalised draw weight of each reservoir edge: 1 (uniform), or 1 / deg_R(user) with deg_R the user's edge
// count in the reservoir (DEGC's inverse_deg: each edge weighted by its row's inverse degree), so that
// P(edge of u) = 1 / (deg_R(u) * users in the reservoir).
std::vector<double> ReplayWeights(const EdgeList& reservoir, ReplayWeighting weighting);

// How often each reservoir edge is drawn in `draws` draws with replacement, P(k) = weights[k] / sum(weights);
// deterministic in `seed`.
std::vector<int64_t> DrawCounts(const std::vector<double>& weights, int64_t draws, uint64_t seed);

// The edges drawn at least once (DEGC sums repeated draws into one entry of its sparse matrix, so each drawn
// edge is replayed once per epoch), in reservoir order.
EdgeList DrawnEdges(const EdgeList& reservoir, const std::vector<int64_t>& counts);

}  // namespace gpt4rec::model
