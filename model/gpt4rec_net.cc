#include "model/gpt4rec_net.h"

#include <cmath>

namespace gpt4rec::model {

namespace {
torch::Tensor Normal(std::initializer_list<int64_t> shape, double std) { return torch::randn(shape) * std; }

// y[n, k] = x[n, k] W_k for every view k: [N, K, a] x [K, a, b] -> [N, K, b]. One [N, K·a] x [K·a, K·b] GEMM with
// the block-diagonal W (a small matrix, rebuilt per call) instead of einsum's K batched products over transposed
// copies of x; the zero blocks cost flops the GEMM absorbs, the copies cost memory passes it does not.
torch::Tensor PerView(const torch::Tensor& x, const torch::Tensor& W) {
  const int64_t N = x.size(0), K = W.size(0);
  return x.reshape({N, K * W.size(1)}).matmul(torch::block_diag(W.unbind(0))).view({N, K, W.size(2)});
}
}  // namespace

ViewProjectionImpl::ViewProjectionImpl(int64_t dim) {
  view_W = register_parameter("view_W", torch::eye(dim));
  view_c = register_parameter("view_c", torch::zeros({dim}));
}

NodePromptImpl::NodePromptImpl(int64_t K, int64_t L, int64_t dk, bool random_prompts) {
  // Zero, or small: the prompt starts as (close to) "no change". A zero P still trains (its gradient is α).
  node_P = register_parameter("node_P", random_prompts ? Normal({K, L, dk}, 0.01) : torch::zeros({K, L, dk}));
  node_A = register_parameter("node_A", Normal({K, dk, L}, 1.0 / std::sqrt(static_cast<double>(dk))));
  node_b = register_parameter("node_b", torch::zeros({K, L}));
}

torch::Tensor NodePromptImpl::forward(const torch::Tensor& x) {
  auto alpha = ShortRowSoftmax(PerView(x, node_A) + node_b);  // α_i = softmax(a_k(x_i))
  return x + PerView(alpha, node_P);                           // x_i + Σ_j α_ij p_j
}

StructurePromptsImpl::StructurePromptsImpl(StructurePrompt f, int64_t K, int64_t M, int64_t dk, bool random_prompts)
    : form(f) {
  const double score_std = 1.0 / std::sqrt(static_cast<double>(dk));
  if (form == StructurePrompt::kSoftmax) {
    struct_S = register_parameter("struct_S", random_prompts ? Normal({K, M, dk}, 0.01) : torch::zeros({K, M, dk}));
    struct_Gu = register_parameter("struct_Gu", Normal({K, dk, M}, score_std));
    struct_Gi = register_parameter("struct_Gi", Normal({K, dk, M}, score_std));
    struct_b = register_parameter("struct_b", torch::zeros({K, M}));
  } else {
    struct_Gu = register_parameter("struct_Gu", Normal({K, dk, 1}, 0.01));
    struct_Gi = register_parameter("struct_Gi", Normal({K, dk, 1}, 0.01));
    struct_b = register_parameter("struct_b", torch::full({K, 1}, 4.0));  // σ(4) ≈ 0.98: nearly open, ≈ plain Â
  }
}

// Every edge has exactly one user end, so the bias rides on the user-side term.
torch::Tensor StructurePromptsImpl::NodeLogits(const torch::Tensor& xhat, const NormAdjacency& adj) {
  const int64_t U = adj.num_users;
  auto lu = PerView(xhat.slice(0, 0, U), struct_Gu) + struct_b;
  auto li = PerView(xhat.slice(0, U), struct_Gi);
  return torch::cat({lu, li}, 0).reshape({xhat.size(0), -1});
}

// (Σ_i Â_ui β_ui) S per node and view, β_ui = softmax(g_k([x̂_u ‖ x̂_i])): the per-node halves of the score go
// into one fused edge kernel, so no per-edge tensor (and no per-edge message) is ever formed.
torch::Tensor StructurePromptsImpl::Term(const torch::Tensor& xhat, const NormAdjacency& adj) {
  const int64_t N = xhat.size(0), K = struct_S.size(0), M = struct_S.size(1);
  auto T = EdgeSoftmaxScatter(adj, NodeLogits(xhat, adj), M).view({N, K, M});
  return PerView(T, struct_S);
}

torch::Tensor StructurePromptsImpl::Gate(const torch::Tensor& xhat, const NormAdjacency& adj) {
  return torch::sigmoid(GatherEdgePairs(adj, NodeLogits(xhat, adj)));
}

ViewPromptImpl::ViewPromptImpl(int64_t K, int64_t dk) { view_v = register_parameter("view_v", torch::zeros({K, dk})); }

torch::Tensor ViewPromptImpl::forward(const torch::Tensor& h, torch::Tensor* gamma_out) {
  auto gamma = ShortRowSoftmax((h * view_v).sum(-1));  // γ_ik = softmax_k(v_k · h_i^(k))
  if (gamma_out != nullptr) *gamma_out = gamma;
  return h * (gamma * static_cast<double>(view_v.size(0))).unsqueeze(-1);
}

RecencyPromptImpl::RecencyPromptImpl(int64_t K) {
  recency_tau = register_parameter("recency_tau", torch::zeros({kRecencyBuckets, K}));
}

torch::Tensor RecencyPromptImpl::forward() { return 2.0 * torch::sigmoid(recency_tau); }

LayerPromptImpl::LayerPromptImpl(int64_t layers, int64_t K) {
  layer_w = register_parameter("layer_w", torch::zeros({layers + 1, K}));
}

Gpt4RecNetImpl::Gpt4RecNetImpl(const NetShape& shape, int64_t num_users, int64_t num_items) : shape_(shape) {
  const int64_t d = shape.dim, K = shape.views, dk = d / K;
  // N(0, init_std) for the ID tables, or xavier-normal (std sqrt(2 / (rows + d)), RecBole's choice) at 0.
  auto std_for = [&](int64_t rows) {
    return shape.init_std > 0 ? shape.init_std : std::sqrt(2.0 / static_cast<double>(rows + d));
  };
  user_old = torch::empty({0, d});
  item_old = torch::empty({0, d});
  user_new = Normal({num_users, d}, std_for(num_users));
  item_new = Normal({num_items, d}, std_for(num_items));
  backbone = register_module("backbone", ViewProjection(d));
  if (!shape.prompts) return;
  if (shape.node_prompts > 0) node_prompt = register_module("node_prompt", NodePrompt(K, shape.node_prompts, dk, shape.random_prompts));
  if (shape.structure != StructurePrompt::kOff)
    structure_prompt = register_module("structure_prompt",
                                       StructurePrompts(shape.structure, K, shape.structure_prompts, dk, shape.random_prompts));
  if (shape.view_prompts) view_prompt = register_module("view_prompt", ViewPrompt(K, dk));
  if (shape.recency) recency_prompt = register_module("recency_prompt", RecencyPrompt(K));
  if (shape.layer_prompt) layer_prompt = register_module("layer_prompt", LayerPrompt(shape.layers, K));
}

torch::Tensor Gpt4RecNetImpl::forward(const NormAdjacency& adj, torch::Tensor* ego, torch::Tensor* view_gamma) {
  const int64_t N = num_users() + num_items(), K = shape_.views, dk = shape_.dim / K;
  auto e = Ego();
  if (ego != nullptr) *ego = e;
  // Without a view prompt (or with the prompts skipped) the views are concatenated as they are: γ = 1/K.
  if (view_gamma != nullptr) *view_gamma = torch::full({N, K}, 1.0 / static_cast<double>(K));
  auto x = backbone(e).view({N, K, dk});  // x^(k) = W_k e + c_k
  // A training adjacency with the step's positives masked (PositiveEdgeMask: one more bucket column) weighs the
  // masked bucket 0 and gives each node's remaining edges its whole weight.
  const bool masked = adj.row_bucket_sum.defined() && adj.row_bucket_sum.size(1) > kRecencyBuckets;
  const auto with_mask_bucket = [&](const torch::Tensor& w) { return torch::cat({w, torch::zeros({1, K})}, 0); };
  const auto mask_weight = [&] { return with_mask_bucket(torch::ones({kRecencyBuckets, K})); };
  // Σ_j Â_rj / Σ_j Â_rj w[bucket_j, k] per node and view, from the per-row bucket totals (constant per graph): a
  // [N, buckets] x [buckets, K] product. Nodes without (unmasked) edges get 0; the safe denominator keeps the
  // unused branch's gradient finite.
  const auto keep_total = [&](const torch::Tensor& w) {
    auto weighted = adj.row_bucket_sum.matmul(w);
    auto plain = adj.row_bucket_sum.sum(1, /*keepdim=*/true);
    auto has = weighted > 0;
    return torch::where(has, plain / torch::where(has, weighted, torch::ones_like(weighted)),
                        torch::zeros_like(weighted));
  };
  if (!prompts_on) {
    if (!masked) return Propagate(x, adj, {}, {}, {}, {}, {}).reshape({N, -1});
    const auto w = mask_weight();
    return Propagate(x, adj, {}, w, keep_total(w), {}, {}).reshape({N, -1});
  }
  if (node_prompt && paper_prompts_on) x = node_prompt(x);        // x̂^(k) = x^(k) + Σ_j α_j p_j
  // The messages: Â, optionally scaled per edge (edge gate, recency), plus the softmax structure term.
  const bool has_edges = adj.edge_user.numel() > 0;
  torch::Tensor structure_term, edge_weight, bucket_weight, bucket_norm, layer_weight;
  const bool structure = has_edges && structure_prompt && paper_prompts_on;
  if (structure && structure_prompt->form == StructurePrompt::kSoftmax)
    structure_term = structure_prompt->Term(x, adj);  // (Σ_i Â_ui β_ui) S
  if (structure && structure_prompt->form == StructurePrompt::kEdgeGate)
    edge_weight = structure_prompt->Gate(x, adj);  // σ(g_k(...)) on Â_ui
  const bool recency = has_edges && recency_prompt && adj.edge_bucket.defined();
  if (recency) bucket_weight = recency_prompt();  // 2σ(τ_k[bucket(age)]) on Â_ui
  if (edge_weight.defined()) {  // with the edge gate: one [E,K] factor (it ignores a mask)
    if (recency) edge_weight = edge_weight * bucket_weight.index_select(0, adj.edge_bucket);
    bucket_weight = torch::Tensor();
  } else if (masked || (recency && shape_.recency_scale_free)) {
    if (!recency) bucket_weight = torch::ones({kRecencyBuckets, K});
    if (masked) bucket_weight = with_mask_bucket(bucket_weight);
    // Scale-free: the recency weights only redistribute a node's neighbourhood between old and new edges
    // (unbounded in scale they let BPR grow every score instead). Unnormalised ones keep their scale, and only
    // the mask's share is given back to the node's other edges.
    bucket_norm = keep_total(recency && !shape_.recency_scale_free ? mask_weight() : bucket_weight);
  }
  if (layer_prompt) layer_weight = layer_prompt();
  auto h = Propagate(x, adj, edge_weight, bucket_weight, bucket_norm, structure_term, layer_weight);  // mean_l Â^l x̂^(k)
  if (view_prompt && paper_prompts_on) h = view_prompt(h, view_gamma);                        // z_i = concat_k(K γ_ik h_i^(k))
  return h.reshape({N, -1});
}

// LightGCN over the views: mean over layers 0..Lg of Â^l x, each layer's messages optionally scaled per edge and
// view ([E,K]), plus a per-node term ([N,K,dk]) in every layer, the layer mean optionally weighted ([Lg+1,K], mean
// 1). All K views share Â, so one N×d product propagates every view at once. [N,K,dk] -> [N,K,dk].
torch::Tensor Gpt4RecNetImpl::Propagate(const torch::Tensor& x, const NormAdjacency& adj,
                                        const torch::Tensor& edge_weight, const torch::Tensor& bucket_weight,
                                        const torch::Tensor& bucket_norm, const torch::Tensor& node_term,
                                        const torch::Tensor& layer_weight) const {
  const int64_t N = x.size(0), K = x.size(1), dk = x.size(2), d = K * dk;
  auto weigh = [&](const torch::Tensor& t, int l) {
    return layer_weight.defined() ? (t.view({N, K, dk}) * layer_weight[l].view({1, K, 1})).view({N, d}) : t;
  };
  const auto term = node_term.defined() ? node_term.reshape({N, d}) : node_term;
  auto h = x.reshape({N, d});
  auto acc = weigh(h, 0);
  for (int l = 0; l < shape_.layers; ++l) {
    if (edge_weight.defined()) {
      h = GatedAdjacencyMatmul(adj, h, edge_weight);
    } else if (bucket_weight.defined()) {
      h = BucketWeightedAdjacencyMatmul(adj, h, bucket_weight);
      if (bucket_norm.defined()) h = (h.view({N, K, dk}) * bucket_norm.unsqueeze(-1)).view({N, d});
    } else {
      h = AdjacencyMatmul(adj, h);
    }
    if (term.defined()) h = h + term;
    acc = acc + weigh(h, l + 1);
  }
  return (acc / static_cast<double>(shape_.layers + 1)).view({N, K, dk});
}

std::vector<torch::Tensor> Gpt4RecNetImpl::PromptParameters() const {
  std::vector<torch::Tensor> out;
  auto add = [&](const torch::nn::Module& m) {
    for (const auto& p : m.parameters()) out.push_back(p);
  };
  if (node_prompt) add(*node_prompt);
  if (structure_prompt) add(*structure_prompt);
  if (view_prompt) add(*view_prompt);
  return out;
}

bool Gpt4RecNetImpl::IsPromptVector(const torch::Tensor& t) const {
  return (node_prompt && t.is_same(node_prompt->node_P)) ||
         (structure_prompt && structure_prompt->struct_S.defined() && t.is_same(structure_prompt->struct_S));
}

std::vector<torch::Tensor> Gpt4RecNetImpl::TemporalPromptParameters() const {
  std::vector<torch::Tensor> out;
  if (recency_prompt) out.push_back(recency_prompt->recency_tau);
  if (layer_prompt) out.push_back(layer_prompt->layer_w);
  return out;
}

void Gpt4RecNetImpl::ScaleTemporalPrompts(double factor) {
  torch::NoGradGuard no_grad;
  for (auto& t : TemporalPromptParameters()) t.mul_(factor);  // zero logits: every weight 1 (2σ(0), uniform softmax)
}

std::vector<std::pair<std::string, torch::Tensor>> Gpt4RecNetImpl::CheckpointTensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(/*recurse=*/true)) {
    const std::string& key = item.key();
    out.emplace_back(key.substr(key.rfind('.') + 1), item.value());
  }
  return out;
}

void Gpt4RecNetImpl::MergeRows() {
  torch::NoGradGuard no_grad;
  user_old = torch::cat({user_old, user_new}, 0).detach().clone();
  item_old = torch::cat({item_old, item_new}, 0).detach().clone();
  user_new = torch::empty({0, shape_.dim});
  item_new = torch::empty({0, shape_.dim});
}

void Gpt4RecNetImpl::AppendRows(const torch::Tensor& new_users, const torch::Tensor& new_items) {
  user_new = new_users.detach().clone();
  item_new = new_items.detach().clone();
}

}  // namespace gpt4rec::model
