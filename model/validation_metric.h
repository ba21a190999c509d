// Private (torch): the early-stopping metric — validation Recall@20 with full ranking over the model's items.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "model/graph_ops.h"
#include "model/recommender_model.h"

namespace gpt4rec::model {

// Validation edges grouped by user, restricted to ids inside the graph (ids first seen in validation cannot be
// ranked by a model that has never seen them; they do not take part in early stopping).
struct ValidSet {
  std::vector<int32_t> users;
  std::vector<std::vector<int32_t>> items;  // sorted
};
ValidSet GroupValid(const std::vector<Interaction>& valid, int32_t num_users, int32_t num_items);

// Recall@20 over validation users with full ranking (the user's training items excluded), and the standard error
// of that mean over users (what early stopping takes for noise).
struct ValidScore {
  double recall20 = 0;
  double standard_error = 0;
};
ValidScore ValidRecall20(const torch::Tensor& z, const BipartiteCsr& g, const ValidSet& v);

}  // namespace gpt4rec::model
