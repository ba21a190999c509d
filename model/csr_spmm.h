// Private (torch): the normalised adjacency Â = D^-1/2 A D^-1/2 of the bipartite graph as a symmetric CSR over
// N = users + items nodes (users first), and Â·X as an autograd op. Â is symmetric, so the backward pass is the
// same product; the hand-written kernel is parallel over rows (no atomics, deterministic for any thread count).
#pragma once

#include <torch/torch.h>

#include "model/graph_ops.h"

namespace gpt4rec::model {

struct NormAdjacency {
  int64_t num_users = 0;
  int64_t num_items = 0;
  int64_t num_nodes = 0;
  torch::Tensor rowptr;  // int64 [N+1]
  torch::Tensor col;     // int32 [2E]
  torch::Tensor val;     // float [2E]
  // One entry per undirected edge, user-major: node ids (items offset by num_users) and Â value.
  torch::Tensor edge_user;  // int64 [E]
  torch::Tensor edge_item;  // int64 [E]
  torch::Tensor edge_val;   // float [E]
  // For the edge-gate variant: the undirected edge of each CSR entry, and the entry's row.
  torch::Tensor entry_edge;  // int64 [2E]
  torch::Tensor entry_row;   // int64 [2E]
  // For the recency prompt: the age bucket of each undirected edge (RecencyBucket), defined only when the graph
  // carries edge ages and some edge is older than the current segment.
  torch::Tensor edge_bucket;  // int64 [E]
  torch::Tensor entry_bucket;  // uint8 [2E]: the bucket of each CSR entry's edge (defined with edge_bucket)
  // float [N, kRecencyBuckets]: each row's Â entries summed per bucket (defined with edge_bucket). Constant per
  // graph; the scale-free recency prompt's per-node totals are products of it with the bucket weights.
  torch::Tensor row_bucket_sum;
};

// Age in segments -> one of kRecencyBuckets buckets: 0, 1, 2, 3, 4-5, 6-8, 9-15, 16+.
inline constexpr int kRecencyBuckets = 8;
int RecencyBucket(int32_t age);

NormAdjacency BuildNormAdjacency(const BipartiteCsr& g);

// Â · x for x of shape [N, d] (float, contiguous); differentiable in x.
torch::Tensor AdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x);

// Edge <-> node moves over the undirected edges, as hand-written kernels (torch 1.13's CPU index_add_ on
// [E, F] sources walks one index at a time and dominated the step time). Adjoint to each other, so each is
// the other's backward.
// With `weighted`, each edge's term is also multiplied by its Â value.
//   GatherEdgePairs:     out[e] = (Â_e) (x[user(e)] + x[item(e)])      [N, F] -> [E, F]
//   ScatterEdgesToNodes: out[n] = sum of (Â_e) w[e] over edges e at n  [E, F] -> [N, F]
torch::Tensor GatherEdgePairs(const NormAdjacency& a, const torch::Tensor& x, bool weighted = false);
torch::Tensor ScatterEdgesToNodes(const NormAdjacency& a, const torch::Tensor& w, bool weighted = false);

// Softmax over the last dimension for many short rows ([..., m], m small: L, M or K prompts). torch 1.13's CPU
// softmax spends most of its time per row for m <= 8; this kernel is a plain parallel loop, with the usual
// backward gx = y * (gy - <gy, y>).
torch::Tensor ShortRowSoftmax(const torch::Tensor& x);

// The softmax structure prompt's per-node term in one fused op: out[n] = sum over n's edges (n, c) of
// Â_nc softmax(logits[n] + logits[c]), the softmax taken over each consecutive group of `group` columns ([N, F]
// -> [N, F]). Equal to ScatterEdgesToNodes(ShortRowSoftmax(GatherEdgePairs(logits)), weighted) without any
// per-edge tensor; differentiable in logits.
torch::Tensor EdgeSoftmaxScatter(const NormAdjacency& a, const torch::Tensor& logits, int64_t group);

// Propagation with a weight per (age bucket, view): out[r] = sum_j Â_rj w[bucket(j), k] x[col_j] per view k (x is
// [N, K*dk], w [kRecencyBuckets, K]; needs entry_bucket). The recency prompt's form of GatedAdjacencyMatmul: the
// same product for a gate that depends on the edge only through its bucket, without an [E, K] gate tensor, and
// with the gradient in w reduced per bucket inside the kernel. Differentiable in x and w.
torch::Tensor BucketWeightedAdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& w);

// Edge-gate propagation: out[r] = sum_j Â_rj gate[edge(j), k] x[col_j] per view k (x is [N, K*dk], gate [E, K]).
// Differentiable in x and gate.
torch::Tensor GatedAdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& gate);

}  // namespace gpt4rec::model
