// The leave-out of a training step's own positive edges (positive_edge_mask.h).
#include "model/positive_edge_mask.h"

#include <algorithm>

namespace gpt4rec::model {

PositiveEdgeMask::PositiveEdgeMask(const BipartiteCsr& g, const NormAdjacency& adj) : g_(g), work_(adj) {
  orig_bucket_ = adj.entry_bucket;
  work_.entry_bucket = adj.entry_bucket.clone();
  work_.row_bucket_sum = torch::cat({adj.row_bucket_sum, torch::zeros({adj.num_nodes, 1})}, 1).contiguous();
  orig_sum_ = work_.row_bucket_sum.clone();
}

void PositiveEdgeMask::Mask(const int32_t* users, const int32_t* items, int64_t n) {
  uint8_t* eb = work_.entry_bucket.data_ptr<uint8_t>();
  float* rb = work_.row_bucket_sum.data_ptr<float>();
  const float* val = work_.val.data_ptr<float>();
  const int64_t U = g_.num_users, E = g_.num_edges();
  for (int64_t k = 0; k < n; ++k) {
    const int32_t u = users[k], i = items[k];
    // User rows hold entries [0, E) in user_items' order, item rows [E, 2E) in item_users' order; both sorted.
    const auto ub = g_.user_items.begin() + g_.user_ptr[u], ue = g_.user_items.begin() + g_.user_ptr[u + 1];
    const auto ui = std::lower_bound(ub, ue, i);
    const auto ib = g_.item_users.begin() + g_.item_ptr[i], ie = g_.item_users.begin() + g_.item_ptr[i + 1];
    const auto iu = std::lower_bound(ib, ie, u);
    if (ui == ue || *ui != i || iu == ie || *iu != u) continue;
    const int64_t entries[2][2] = {{ui - g_.user_items.begin(), u}, {E + (iu - g_.item_users.begin()), U + i}};
    for (const auto& [j, r] : entries) {
      if (eb[j] == kRecencyBuckets) continue;  // a positive drawn twice in one step
      rb[r * kWidth + eb[j]] -= val[j];
      rb[r * kWidth + kRecencyBuckets] += val[j];
      eb[j] = kRecencyBuckets;
      masked_.push_back(j);
      rows_.push_back(r);
    }
  }
}

void PositiveEdgeMask::Restore() {
  uint8_t* eb = work_.entry_bucket.data_ptr<uint8_t>();
  const uint8_t* ob = orig_bucket_.data_ptr<uint8_t>();
  float* rb = work_.row_bucket_sum.data_ptr<float>();
  const float* os = orig_sum_.data_ptr<float>();
  for (int64_t j : masked_) eb[j] = ob[j];
  // Whole rows copied back rather than the moves undone: no float drift over an epoch's steps.
  for (int64_t r : rows_) std::copy(os + r * kWidth, os + (r + 1) * kWidth, rb + r * kWidth);
  masked_.clear();
  rows_.clear();
}

}  // namespace gpt4rec::model
