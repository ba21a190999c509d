// Private (torch): the leave-out of a training step's own positive edges (ModelConfig.leave_out_positives). Every
// BPR positive is an edge of the graph it is scored on, so without it a model can lower the loss by propagating
// the very edge being predicted, which a test edge (never in the graph) cannot offer. During one step the step's
// positive edges sit in an extra, masked age bucket (index kRecencyBuckets) that the forward weighs 0; each row's
// per-bucket totals move with them, so the forward can give the node's remaining edges its whole weight.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "model/csr_spmm.h"
#include "model/graph_ops.h"

namespace gpt4rec::model {

class PositiveEdgeMask {
 public:
  // `adj` must carry edge buckets (adj.entry_bucket defined) and be built from `g`; both must outlive the mask.
  PositiveEdgeMask(const BipartiteCsr& g, const NormAdjacency& adj);

  // The working adjacency: adj's CSR (shared), its own entry buckets and per-row totals with the masked column.
  const NormAdjacency& adjacency() const { return work_; }

  // Masks the edges (users[k], items[k]) for k < n in both directions; pairs that are not edges are skipped.
  void Mask(const int32_t* users, const int32_t* items, int64_t n);
  // Puts every entry masked since the last Restore back, bitwise.
  void Restore();

 private:
  static constexpr int64_t kWidth = kRecencyBuckets + 1;
  const BipartiteCsr& g_;
  NormAdjacency work_;
  torch::Tensor orig_bucket_, orig_sum_;
  std::vector<int64_t> masked_, rows_;
};

}  // namespace gpt4rec::model
