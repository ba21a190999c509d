// Private (torch-free): graph preparation, 2-hop initialisation of new nodes and negative sampling.
// Plain loops over CSR arrays; the trainer calls them from its parallel loops.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "model/recommender_model.h"

namespace gpt4rec::model {

// INVALID_ARGUMENT naming the field and index of the first inconsistency.
absl::Status ValidateGraph(const Graph& g);

// Both directions of the bipartite graph with sorted, de-duplicated rows.
struct BipartiteCsr {
  int32_t num_users = 0;
  int32_t num_items = 0;
  std::vector<int64_t> user_ptr;    // num_users + 1
  std::vector<int32_t> user_items;  // sorted within each user
  std::vector<int64_t> item_ptr;    // num_items + 1
  std::vector<int32_t> item_users;  // sorted within each item
  std::vector<int32_t> user_age;    // parallel to user_items when the graph carries edge ages, else empty
  int64_t num_edges() const { return static_cast<int64_t>(user_items.size()); }
};
BipartiteCsr PrepareGraph(const Graph& g);

// New rows [first_new, first_new + count) of one side's embedding table get the mean of their OLD
// (id < first_new) 2-hop neighbours on the same side (user->item->user or item->user->item); a node without any
// gets the mean of all old rows (zeros when there are none). `old_rows` is first_new × dim, row-major; `out` is
// count × dim. distinct = true: plain mean over the distinct neighbours; false: over 2-hop paths, i.e. each
// neighbour weighted by the number of middle nodes it shares with the new node (per-middle-node sums are formed
// once, so the cost is O(edges × dim) however large the hubs are).
enum class Side { kUser, kItem };
void TwoHopMeanInit(const BipartiteCsr& g, Side side, const float* old_rows, int32_t first_new, int32_t count,
                    int dim, float* out, bool distinct = true);

// For positives [begin, end): `negatives` items per positive drawn uniformly from [0, num_items) and rejected
// while the user has interacted with them (binary search in the sorted row; gives up after 64 tries for users
// who have seen nearly everything). Deterministic in `seed`.
void SampleNegatives(const BipartiteCsr& g, const int32_t* users, int64_t begin, int64_t end, int negatives,
                     uint64_t seed, int64_t* out);

// Stateless 64-bit mixer (splitmix64) for deriving per-chunk seeds.
uint64_t MixSeed(uint64_t a, uint64_t b);

}  // namespace gpt4rec::model
