// Private (torch): GPT4Rec's parameters and forward pass (design page §2). The ID tables are kept split at the
// old/new boundary of the current segment so that old rows can be frozen bitwise while new rows train.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
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
  bool layer_prompt = false;   // ModelConfig.layer_prompt
  bool prompts = true;         // false: the bare backbone (views + LightGCN), used by the baselines
  int layers = 2;
};

class Gpt4RecNet {
 public:
  Gpt4RecNet() = default;
  // Fresh parameters for num_users × num_items (all rows "new"); draws from torch's global generator.
  Gpt4RecNet(const NetShape& shape, int64_t num_users, int64_t num_items);

  const NetShape& shape() const { return shape_; }
  int64_t num_users() const { return user_old.size(0) + user_new.size(0); }
  int64_t num_items() const { return item_old.size(0) + item_new.size(0); }

  // Final representations z for all N = users + items nodes, [N, dim].
  torch::Tensor Forward(const NormAdjacency& adj) const;

  // Joins old and new rows into the old part (end of a segment) and appends `new_users`/`new_items` rows as the
  // new part (start of a segment). Results have requires_grad off; the trainer decides what trains.
  void MergeRows();
  void AppendRows(const torch::Tensor& new_users, const torch::Tensor& new_items);

  // Named tensors: the ID tables ("user_emb", "item_emb" after MergeRows), backbone and prompts.
  std::map<std::string, torch::Tensor*> NamedParameters();  // everything except the ID tables
  // The backbone (frozen during prompt tuning); every other named parameter is a prompt.
  static bool IsBackbone(const std::string& name) { return name == "view_W" || name == "view_c"; }
  // Prompts that train only during prompt tuning (segment 0 leaves them at the identity).
  static bool TuningOnly(const std::string& name) { return name == "recency_tau" || name == "layer_w"; }

  torch::Tensor user_old, user_new, item_old, item_new;  // ID embeddings E
  torch::Tensor view_W;  // [dim, dim]: rows k*dk..(k+1)*dk are W_k
  torch::Tensor view_c;  // [dim]
  torch::Tensor node_P, node_A, node_b;                   // [K,L,dk], [K,dk,L], [K,L]
  torch::Tensor struct_S, struct_Gu, struct_Gi, struct_b;  // [K,M,dk], [K,dk,M'], [K,dk,M'], [K,M'] (M'=1: gate)
  torch::Tensor view_v;                                     // [K,dk]
  torch::Tensor recency_tau;                                // [kRecencyBuckets,K]: edge weight 2σ(τ) by age
  torch::Tensor layer_w;                                    // [layers+1,K]: softmax over layers, per view

 private:
  torch::Tensor StructureTerm(const torch::Tensor& xhat, const NormAdjacency& adj) const;
  torch::Tensor EdgeLogits(const torch::Tensor& xhat, const NormAdjacency& adj) const;
  NetShape shape_;
};

}  // namespace gpt4rec::model
