// Private (torch): local structure preservation, the `lsp` strategy's extra loss — GraphSAIL's local-structure
// distillation (Xu et al., CIKM 2020) in the form of DEGC's `LSP_s`. For each old node n, K of its old neighbours
// are drawn once per segment; the teacher (the previous segment's ID rows, frozen copies) gives
// p_n = softmax_k(e_n · e_{nb_k}), the student (the rows being trained) q_n the same over the same neighbours, and
// the term is KL(q_n || p_n) = Σ_k q_nk (log q_nk − log p_nk) — DEGC's direction — averaged over the batch's old
// users plus averaged over its old items (positives and negatives), weighted by ModelConfig.lsp_weight.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/graph_ops.h"

namespace gpt4rec::model {

struct LspTargets {
  torch::Tensor teacher_users, teacher_items;  // the previous model's ID rows, cloned: [old_users, d], [old_items, d]
  // Per old node: its K drawn neighbours (ids on the other side), the teacher's log-probabilities over them, and
  // whether it has any old neighbour at all (nodes without one add nothing).
  torch::Tensor user_neighbours, user_log_target, user_valid;  // [old_users, K] long, [old_users, K], [old_users] bool
  torch::Tensor item_neighbours, item_log_target, item_valid;  // [old_items, K] long, [old_items, K], [old_items] bool
};

// Neighbours in `g` (the accumulated graph of this segment) restricted to old nodes: K drawn without replacement
// when a node has more than K old neighbours, with replacement otherwise (as DEGC draws its 10). `prev_users` /
// `prev_items` are the previous model's rows; they are cloned, so training cannot move the teacher.
LspTargets BuildLspTargets(const BipartiteCsr& g, const torch::Tensor& prev_users, const torch::Tensor& prev_items,
                           int k, uint64_t seed);

// The term for one batch: `users` / `items` are the student's old rows ([old_users, d], [old_items, d]);
// `batch_users`, `batch_items` the batch's ids (long, may include new nodes, which are skipped). 0 when the
// batch has no old node with an old neighbour.
torch::Tensor LspLoss(const torch::Tensor& users, const torch::Tensor& items, const LspTargets& t,
                      const torch::Tensor& batch_users, const torch::Tensor& batch_items);

}  // namespace gpt4rec::model
