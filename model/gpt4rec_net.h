// Private (torch): GPT4Rec as a torch::nn::Module (design page §2). The backbone (the view projections) and each
// prompt are registered submodules, so "what is the backbone" and "what is a prompt" are the module tree, not a
// list of names. The ID tables are plain tensors, kept split at the old/new boundary of the current segment so
// that old rows can be frozen bitwise while new rows train; the trainer puts them in parameter groups of their own.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model/csr_spmm.h"
#include "model/recommender_model.h"

namespace gpt4rec::model {

struct NetShape {
  int dim = 64;
  int views = 4;
  int node_prompts = 8;        // L (0 = off)
  int structure_prompts = 4;   // M
  StructurePrompt structure = StructurePrompt::kSoftmax;
  bool view_prompts = true;
  bool recency = false;        // ModelConfig.recency_prompt
  bool recency_scale_free = false;  // ModelConfig.recency_scale_free
  bool layer_prompt = false;   // ModelConfig.layer_prompt
  bool prompts = true;         // false: the bare backbone (views + LightGCN), used by the baselines
  int layers = 2;
  float init_std = 0.1f;       // ModelConfig.init_std (0: xavier-normal per table)
  // false: the prompt vectors (node P, structure S) start at zero, so every prompt starts as the exact identity
  // (ModelConfig.prompts_in_segment0 = false); true: N(0, 0.01), the paper's from-scratch training of segment 0.
  bool random_prompts = true;
};

// §2.1 x^(k) = W_k e + c_k for all K views at once: W is d×d, rows k·dk..(k+1)·dk are W_k. Starts as the
// identity, so an untrained backbone is plain LightGCN on K slices of E.
struct ViewProjectionImpl : torch::nn::Module {
  explicit ViewProjectionImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& e) { return torch::addmm(view_c, e, view_W.t()); }
  torch::Tensor view_W, view_c;
};
TORCH_MODULE(ViewProjection);

// §2.2 node-level prompts (GPF-plus), per view: x̂_i = x_i + Σ_j α_ij p_j with α_i = softmax(a_k(x_i)).
struct NodePromptImpl : torch::nn::Module {
  NodePromptImpl(int64_t views, int64_t prompts, int64_t view_dim, bool random_prompts);
  torch::Tensor forward(const torch::Tensor& x);  // [N,K,dk] -> [N,K,dk]
  torch::Tensor node_P, node_A, node_b;           // [K,L,dk], [K,dk,L], [K,L]
};
TORCH_MODULE(NodePrompt);

// §2.3 structure-level prompts [reconstructed], per view, scored by g_k([x̂_u ‖ x̂_i]) on every edge. Softmax form:
// the message along (u,i) gains Σ_m β_ui,m s_m, computed in the cheap form (Σ_i Â_ui β_ui) S. Edge-gate form: a
// scalar σ(g_k(...)) scales Â_ui.
struct StructurePromptsImpl : torch::nn::Module {
  StructurePromptsImpl(StructurePrompt form, int64_t views, int64_t prompts, int64_t view_dim, bool random_prompts);
  torch::Tensor Term(const torch::Tensor& xhat, const NormAdjacency& adj);  // softmax form: [N,K,dk]
  torch::Tensor Gate(const torch::Tensor& xhat, const NormAdjacency& adj);  // edge gate: [E,K]
  StructurePrompt form;
  torch::Tensor struct_S, struct_Gu, struct_Gi, struct_b;  // [K,M,dk], [K,dk,M'], [K,dk,M'], [K,M'] (M'=1: gate)

 private:
  // Each node's half of g_k([x̂_u ‖ x̂_i]), [N, K·M']: a linear score of both ends splits into per-node terms,
  // and an edge's logits are the sum of its two ends' rows.
  torch::Tensor NodeLogits(const torch::Tensor& xhat, const NormAdjacency& adj);
};
TORCH_MODULE(StructurePrompts);

// §2.5 view-level prompts [reconstructed]: z_i = concat_k(K·γ_ik · h_i^(k)), γ_i = softmax_k(v_k · h_i^(k)). The
// factor K makes uniform weights the plain concatenation; without it the prompt starts by shrinking every score
// K² times, which BPR then has to undo.
struct ViewPromptImpl : torch::nn::Module {
  ViewPromptImpl(int64_t views, int64_t view_dim);
  // [N,K,dk] -> [N,K,dk]; `gamma`, when given, receives γ [N,K].
  torch::Tensor forward(const torch::Tensor& h, torch::Tensor* gamma = nullptr);
  torch::Tensor view_v;  // [K,dk]; zero = uniform γ
};
TORCH_MODULE(ViewPrompt);

// Temporal prompt (ours, README): a per-view weight 2σ(τ[bucket(age)]) ∈ (0, 2) on every edge's message.
struct RecencyPromptImpl : torch::nn::Module {
  explicit RecencyPromptImpl(int64_t views);
  torch::Tensor forward();  // the weights per age bucket and view, [kRecencyBuckets,K]
  torch::Tensor recency_tau;                         // [kRecencyBuckets,K]; zero = every edge weighs 1
};
TORCH_MODULE(RecencyPrompt);

// Temporal prompt (ours, README): per-view weights over the LightGCN layers, (layers+1)·softmax, uniform = mean.
struct LayerPromptImpl : torch::nn::Module {
  LayerPromptImpl(int64_t layers, int64_t views);
  torch::Tensor forward() { return torch::softmax(layer_w, 0) * static_cast<double>(layer_w.size(0)); }
  torch::Tensor layer_w;  // [layers+1,K]
};
TORCH_MODULE(LayerPrompt);

class Gpt4RecNetImpl : public torch::nn::Module {
 public:
  // Fresh parameters for num_users × num_items (all rows "new"); draws from torch's global generator.
  Gpt4RecNetImpl(const NetShape& shape, int64_t num_users, int64_t num_items);

  const NetShape& shape() const { return shape_; }
  int64_t num_users() const { return user_old.size(0) + user_new.size(0); }
  int64_t num_items() const { return item_old.size(0) + item_new.size(0); }
  // The ID table E in node order (users, then items), [N, dim].
  torch::Tensor Ego() const { return torch::cat({user_old, user_new, item_old, item_new}, 0); }

  // Final representations z for all N = users + items nodes, [N, dim]. `ego`, when given, receives the ID table
  // E that forward concatenated (for a loss on the layer-0 rows without concatenating it again). `view_gamma`,
  // when given, receives the view prompt's γ [N, K] (uniform 1/K without a view prompt or with prompts off).
  torch::Tensor forward(const NormAdjacency& adj, torch::Tensor* ego = nullptr, torch::Tensor* view_gamma = nullptr);
  // false: forward skips every prompt (the bare backbone). Only valid while the prompts are at their identity
  // start; the trainer uses it to pre-train the backbone alone in segment 0.
  bool prompts_on = true;
  // false (with prompts_on): forward skips the paper's three prompts (node, structure, view) but keeps the
  // temporal ones. Only valid while those three are at their identity start: prompt tuning's row phase without
  // them (ModelConfig::row_phase_prompts = false).
  bool paper_prompts_on = true;

  // Joins old and new rows into the old part (end of a segment) and appends `new_users`/`new_items` rows as the
  // new part (start of a segment). Results have requires_grad off; the trainer decides what trains.
  void MergeRows();
  void AppendRows(const torch::Tensor& new_users, const torch::Tensor& new_items);

  // What prompt tuning freezes (the backbone), what it trains (the prompts), and the temporal prompts, which
  // train only during prompt tuning (segment 0 leaves them at the identity).
  std::vector<torch::Tensor> BackboneParameters() const { return backbone->parameters(); }
  std::vector<torch::Tensor> PromptParameters() const;
  std::vector<torch::Tensor> TemporalPromptParameters() const;
  // Multiplies the temporal prompts' logits by `factor` (ModelConfig.temporal_carry): towards the identity.
  void ScaleTemporalPrompts(double factor);
  // The prompt vectors added to every representation (node P, structure S); the rest of PromptParameters are
  // gates (scoring layers and the view prompt).
  bool IsPromptVector(const torch::Tensor& t) const;

  // Every registered tensor under its checkpoint name: the leaf names ("view_W", "node_P", ...) that checkpoints
  // have used since before the module tree existed, so old checkpoints load unchanged.
  std::vector<std::pair<std::string, torch::Tensor>> CheckpointTensors() const;
  // Whether a checkpoint may lack the tensor (written before it existed; it then keeps its identity start).
  static bool AddedAfterV1(const std::string& name) { return name == "recency_tau" || name == "layer_w"; }

  torch::Tensor user_old, user_new, item_old, item_new;  // ID embeddings E

  ViewProjection backbone{nullptr};
  NodePrompt node_prompt{nullptr};
  StructurePrompts structure_prompt{nullptr};
  ViewPrompt view_prompt{nullptr};
  RecencyPrompt recency_prompt{nullptr};
  LayerPrompt layer_prompt{nullptr};

 private:
  // Messages scaled per edge ([E,K], edge_weight) or per age bucket ([kRecencyBuckets,K], bucket_weight), not
  // both; undefined tensors mean "no such factor".
  // bucket_norm ([N,K], with bucket_weight): each node's messages are multiplied by it after the weighted
  // product, so that the recency weights reshape a node's neighbourhood without changing its total weight.
  torch::Tensor Propagate(const torch::Tensor& x, const NormAdjacency& adj, const torch::Tensor& edge_weight,
                          const torch::Tensor& bucket_weight, const torch::Tensor& bucket_norm,
                          const torch::Tensor& node_term, const torch::Tensor& layer_weight) const;
  NetShape shape_;
};
TORCH_MODULE(Gpt4RecNet);

}  // namespace gpt4rec::model
