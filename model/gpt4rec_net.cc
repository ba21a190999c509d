#include "model/gpt4rec_net.h"

#include <cmath>

namespace gpt4rec::model {

namespace {
torch::Tensor Normal(std::initializer_list<int64_t> shape, double std) { return torch::randn(shape) * std; }
}  // namespace

Gpt4RecNet::Gpt4RecNet(const NetShape& shape, int64_t num_users, int64_t num_items) : shape_(shape) {
  const int64_t d = shape.dim, K = shape.views, dk = d / K;
  // LightGCN's usual N(0, 0.1) for the ID tables.
  user_old = torch::empty({0, d});
  item_old = torch::empty({0, d});
  user_new = Normal({num_users, d}, 0.1);
  item_new = Normal({num_items, d}, 0.1);
  // The view projections start as the identity split into K blocks, so an untrained backbone is plain LightGCN.
  view_W = torch::eye(d);
  view_c = torch::zeros({d});
  if (!shape.prompts) return;
  const double score_std = 1.0 / std::sqrt(static_cast<double>(dk));
  if (shape.node_prompts > 0) {
    const int64_t L = shape.node_prompts;
    node_P = Normal({K, L, dk}, 0.01);  // small: the prompt starts close to "no change"
    node_A = Normal({K, dk, L}, score_std);
    node_b = torch::zeros({K, L});
  }
  if (shape.structure == StructurePrompt::kSoftmax) {
    const int64_t M = shape.structure_prompts;
    struct_S = Normal({K, M, dk}, 0.01);
    struct_Gu = Normal({K, dk, M}, score_std);
    struct_Gi = Normal({K, dk, M}, score_std);
    struct_b = torch::zeros({K, M});
  } else if (shape.structure == StructurePrompt::kEdgeGate) {
    struct_Gu = Normal({K, dk, 1}, 0.01);
    struct_Gi = Normal({K, dk, 1}, 0.01);
    struct_b = torch::full({K, 1}, 4.0);  // σ(4) ≈ 0.98: the gate starts nearly open (≈ plain Â)
  }
  if (shape.view_prompts) view_v = torch::zeros({K, dk});  // uniform γ = 1/K at the start
  if (shape.recency) recency_tau = torch::zeros({kRecencyBuckets, K});  // 2σ(0) = 1: every edge weighs 1
  if (shape.layer_prompt) layer_w = torch::zeros({shape.layers + 1, K});  // uniform: LightGCN's layer mean
}

std::map<std::string, torch::Tensor*> Gpt4RecNet::NamedParameters() {
  std::map<std::string, torch::Tensor*> m = {{"view_W", &view_W}, {"view_c", &view_c}};
  std::pair<const char*, torch::Tensor*> all[] = {
      {"node_P", &node_P},       {"node_A", &node_A},       {"node_b", &node_b},     {"struct_S", &struct_S},
      {"struct_Gu", &struct_Gu}, {"struct_Gi", &struct_Gi}, {"struct_b", &struct_b}, {"view_v", &view_v},
      {"recency_tau", &recency_tau}, {"layer_w", &layer_w}};
  for (auto& [name, t] : all)
    if (t->defined()) m[name] = t;
  return m;
}

void Gpt4RecNet::MergeRows() {
  torch::NoGradGuard no_grad;
  user_old = torch::cat({user_old, user_new}, 0).detach().clone();
  item_old = torch::cat({item_old, item_new}, 0).detach().clone();
  user_new = torch::empty({0, shape_.dim});
  item_new = torch::empty({0, shape_.dim});
}

void Gpt4RecNet::AppendRows(const torch::Tensor& new_users, const torch::Tensor& new_items) {
  user_new = new_users.detach().clone();
  item_new = new_items.detach().clone();
}

// (Σ_i Â_ui β_ui) S per node and view: the cheap form of the structure prompt (design page §2.3). β comes from
// a linear score of both ends, which splits into per-node terms, so only an E×K×M tensor is ever formed.
torch::Tensor Gpt4RecNet::StructureTerm(const torch::Tensor& xhat, const NormAdjacency& adj) const {
  const int64_t N = xhat.size(0), K = shape_.views, M = shape_.structure_prompts;
  auto beta = ShortRowSoftmax(EdgeLogits(xhat, adj).view({-1, K, M}));
  auto T = ScatterEdgesToNodes(adj, beta.view({-1, K * M}), /*weighted=*/true).view({N, K, M});
  return torch::einsum("nkm,kmd->nkd", {T, struct_S});
}

// g_k([x̂_u ‖ x̂_i]) for every edge, [E, K*M']. Every edge has exactly one user end, so the bias rides on the
// user-side term.
torch::Tensor Gpt4RecNet::EdgeLogits(const torch::Tensor& xhat, const NormAdjacency& adj) const {
  const int64_t U = adj.num_users;
  auto lu = torch::einsum("nkd,kdm->nkm", {xhat.slice(0, 0, U), struct_Gu}) + struct_b;
  auto li = torch::einsum("nkd,kdm->nkm", {xhat.slice(0, U), struct_Gi});
  auto node_logits = torch::cat({lu, li}, 0).reshape({xhat.size(0), -1});
  return GatherEdgePairs(adj, node_logits);
}

torch::Tensor Gpt4RecNet::Forward(const NormAdjacency& adj) const {
  const int64_t d = shape_.dim, K = shape_.views, dk = d / K;
  auto x = torch::cat({user_old, user_new, item_old, item_new}, 0);
  const int64_t N = x.size(0);
  auto xv = torch::addmm(view_c, x, view_W.t()).view({N, K, dk});  // x^(k) = W_k e + c_k, all views at once
  if (node_P.defined()) {
    auto alpha = ShortRowSoftmax(torch::einsum("nkd,kdl->nkl", {xv, node_A}) + node_b);
    xv = xv + torch::einsum("nkl,kld->nkd", {alpha, node_P});
  }
  const bool has_edges = adj.edge_user.numel() > 0;
  torch::Tensor structure_term, gate;
  if (has_edges && shape_.prompts && shape_.structure == StructurePrompt::kSoftmax) {
    structure_term = StructureTerm(xv, adj).reshape({N, d});
  } else if (has_edges && shape_.prompts && shape_.structure == StructurePrompt::kEdgeGate) {
    gate = torch::sigmoid(EdgeLogits(xv, adj));  // [E,K]
  }
  if (has_edges && recency_tau.defined() && adj.edge_bucket.defined()) {
    auto by_age = (2.0 * torch::sigmoid(recency_tau)).index_select(0, adj.edge_bucket);  // [E,K]
    gate = gate.defined() ? gate * by_age : by_age;
  }
  // All K views share Â, so one N×d product propagates every view at once.
  auto h = xv.reshape({N, d});
  torch::Tensor lw;  // [layers+1, K] layer weights with mean 1, so that uniform is LightGCN's mean
  if (layer_w.defined()) lw = torch::softmax(layer_w, 0) * static_cast<double>(shape_.layers + 1);
  auto weigh = [&](const torch::Tensor& t, int l) {
    return lw.defined() ? (t.view({N, K, dk}) * lw[l].view({1, K, 1})).view({N, d}) : t;
  };
  auto acc = weigh(h, 0);
  for (int l = 0; l < shape_.layers; ++l) {
    h = gate.defined() ? GatedAdjacencyMatmul(adj, h, gate) : AdjacencyMatmul(adj, h);
    if (structure_term.defined()) h = h + structure_term;
    acc = acc + weigh(h, l + 1);
  }
  auto hv = (acc / static_cast<double>(shape_.layers + 1)).view({N, K, dk});
  if (view_v.defined()) {
    // γ_ik = softmax_k(v_k · h_i^(k)), scaled by K so that uniform weights leave the concatenation unchanged:
    // without the factor the prompt starts by shrinking every score K² times, which BPR then has to undo.
    auto gamma = ShortRowSoftmax((hv * view_v).sum(-1));
    hv = hv * (gamma * static_cast<double>(K)).unsqueeze(-1);
  }
  return hv.reshape({N, d});
}

}  // namespace gpt4rec::model
