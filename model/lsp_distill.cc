#include "model/lsp_distill.h"

#include <algorithm>
#include <random>
#include <vector>

namespace gpt4rec::model {
namespace {

// One side: for each of the `count` old nodes, K old neighbours from its CSR row (ids < other_old), drawn as
// DEGC draws them. Returns [count, K] ids and the validity mask.
void DrawNeighbours(const std::vector<int64_t>& ptr, const std::vector<int32_t>& adj, int32_t count,
                    int32_t other_old, int k, uint64_t seed, torch::Tensor* neighbours, torch::Tensor* valid) {
  *neighbours = torch::zeros({count, k}, torch::kLong);
  *valid = torch::zeros({count}, torch::kBool);
  int64_t* nb = neighbours->data_ptr<int64_t>();
  bool* ok = valid->data_ptr<bool>();
  std::vector<int32_t> old;
  for (int32_t n = 0; n < count; ++n) {
    old.clear();
    for (int64_t j = ptr[n]; j < ptr[n + 1]; ++j)
      if (adj[j] < other_old) old.push_back(adj[j]);
    if (old.empty()) continue;
    ok[n] = true;
    std::mt19937_64 rng(MixSeed(seed, static_cast<uint64_t>(n)));
    if (static_cast<int>(old.size()) > k) {  // without replacement: a partial Fisher-Yates shuffle
      for (int s = 0; s < k; ++s) {
        std::uniform_int_distribution<size_t> pick(s, old.size() - 1);
        std::swap(old[s], old[pick(rng)]);
        nb[static_cast<int64_t>(n) * k + s] = old[s];
      }
    } else {
      std::uniform_int_distribution<size_t> pick(0, old.size() - 1);
      for (int s = 0; s < k; ++s) nb[static_cast<int64_t>(n) * k + s] = old[pick(rng)];
    }
  }
}

// log softmax_k(rows[n] · other[nb[n, k]]) for the given nodes: [nodes, K].
torch::Tensor LogSimilarity(const torch::Tensor& rows, const torch::Tensor& other, const torch::Tensor& nodes,
                            const torch::Tensor& nb) {
  const int64_t n = nodes.size(0), k = nb.size(1);
  auto self = rows.index_select(0, nodes).unsqueeze(1);                               // [n,1,d]
  auto neigh = other.index_select(0, nb.reshape({-1})).view({n, k, other.size(1)});  // [n,K,d]
  return torch::log_softmax((self * neigh).sum(-1), 1);
}

// Mean over the batch's valid old nodes of KL(q || p).
torch::Tensor SideLoss(const torch::Tensor& rows, const torch::Tensor& other, const torch::Tensor& nb_all,
                       const torch::Tensor& log_target, const torch::Tensor& valid, const torch::Tensor& batch) {
  auto in_old = batch.lt(valid.size(0));
  auto ids = batch.masked_select(in_old);
  if (ids.numel() > 0) ids = ids.masked_select(valid.index_select(0, ids));
  if (ids.numel() == 0) return torch::zeros({}, rows.options());
  auto log_q = LogSimilarity(rows, other, ids, nb_all.index_select(0, ids));
  auto log_p = log_target.index_select(0, ids);
  return (log_q.exp() * (log_q - log_p)).sum(1).mean();
}

}  // namespace

LspTargets BuildLspTargets(const BipartiteCsr& g, const torch::Tensor& prev_users, const torch::Tensor& prev_items,
                           int k, uint64_t seed) {
  torch::NoGradGuard no_grad;
  LspTargets t;
  t.teacher_users = prev_users.detach().clone();
  t.teacher_items = prev_items.detach().clone();
  const int32_t old_u = static_cast<int32_t>(prev_users.size(0)), old_i = static_cast<int32_t>(prev_items.size(0));
  DrawNeighbours(g.user_ptr, g.user_items, old_u, old_i, k, MixSeed(seed, 1), &t.user_neighbours, &t.user_valid);
  DrawNeighbours(g.item_ptr, g.item_users, old_i, old_u, k, MixSeed(seed, 2), &t.item_neighbours, &t.item_valid);
  // Targets for every old node (invalid rows point at neighbour 0 and are never read).
  if (old_i > 0 && old_u > 0) {
    t.user_log_target = LogSimilarity(t.teacher_users, t.teacher_items, torch::arange(old_u), t.user_neighbours);
    t.item_log_target = LogSimilarity(t.teacher_items, t.teacher_users, torch::arange(old_i), t.item_neighbours);
  } else {
    t.user_log_target = torch::zeros({old_u, k});
    t.item_log_target = torch::zeros({old_i, k});
  }
  return t;
}

torch::Tensor LspLoss(const torch::Tensor& users, const torch::Tensor& items, const LspTargets& t,
                      const torch::Tensor& batch_users, const torch::Tensor& batch_items) {
  if (users.size(0) == 0 || items.size(0) == 0) return torch::zeros({}, users.options());
  return SideLoss(users, items, t.user_neighbours, t.user_log_target, t.user_valid, batch_users) +
         SideLoss(items, users, t.item_neighbours, t.item_log_target, t.item_valid, batch_items);
}

}  // namespace gpt4rec::model
