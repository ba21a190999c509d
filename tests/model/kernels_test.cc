// The hand-written sparse kernels and their autograd backward against dense references on a tiny graph.
// torch comes first: glog's CHECK would otherwise collide with Catch2's.
#include <torch/torch.h>

#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "model/csr_spmm.h"
#include "model/gpt4rec_net.h"
#include "model/graph_ops.h"
#include "model/positive_edge_mask.h"

namespace gpt4rec::model {
namespace {

Graph SmallGraph() {
  // 4 users, 3 items; user 3 has no edges.
  Graph g;
  g.num_users = 4;
  g.num_items = 3;
  g.indptr = {0, 2, 3, 6, 6};
  g.indices = {0, 2, 2, 0, 1, 2};
  return g;
}

// Dense Â (N×N) from the definition D^-1/2 A D^-1/2.
torch::Tensor DenseAdjacency(const Graph& g) {
  const int64_t U = g.num_users, N = U + g.num_items;
  auto A = torch::zeros({N, N}, torch::kFloat64);
  for (int64_t u = 0; u < U; ++u)
    for (int64_t j = g.indptr[u]; j < g.indptr[u + 1]; ++j) {
      A[u][U + g.indices[j]] = 1.0;
      A[U + g.indices[j]][u] = 1.0;
    }
  auto deg = A.sum(1);
  auto inv = torch::where(deg > 0, deg.pow(-0.5), torch::zeros_like(deg));
  return inv.unsqueeze(1) * A * inv.unsqueeze(0);
}

TEST_CASE("CSR SpMM and its backward match the dense product", "[model][kernels]") {
  const Graph g = SmallGraph();
  const auto bip = PrepareGraph(g);
  const auto adj = BuildNormAdjacency(bip);
  const auto dense = DenseAdjacency(g).to(torch::kFloat32);
  torch::manual_seed(0);
  auto x = torch::randn({7, 5}, torch::requires_grad());
  auto w = torch::randn({7, 5});
  auto y = AdjacencyMatmul(adj, x);
  REQUIRE(torch::allclose(y, torch::mm(dense, x), 1e-5, 1e-6));
  (y * w).sum().backward();
  REQUIRE(torch::allclose(x.grad(), torch::mm(dense.t(), w), 1e-5, 1e-6));
}

TEST_CASE("edge gather and scatter are adjoint and match index ops", "[model][kernels]") {
  const Graph g = SmallGraph();
  const auto adj = BuildNormAdjacency(PrepareGraph(g));
  torch::manual_seed(1);
  auto x = torch::randn({7, 3}, torch::requires_grad());
  auto e = GatherEdgePairs(adj, x);
  auto ref = x.index_select(0, adj.edge_user) + x.index_select(0, adj.edge_item);
  REQUIRE(torch::allclose(e, ref));
  auto we = torch::randn({6, 3}, torch::requires_grad());
  auto n = ScatterEdgesToNodes(adj, we);
  auto nref = torch::zeros({7, 3}).index_add(0, adj.edge_user, we.detach()).index_add(0, adj.edge_item, we.detach());
  REQUIRE(torch::allclose(n, nref, 1e-5, 1e-6));
  // <gather(x), w> == <x, scatter(w)>, and autograd uses exactly that.
  auto lhs = (GatherEdgePairs(adj, x) * we).sum();
  lhs.backward();
  REQUIRE(torch::allclose(x.grad(), ScatterEdgesToNodes(adj, we.detach()), 1e-5, 1e-6));
  REQUIRE(torch::allclose(we.grad(), GatherEdgePairs(adj, x.detach()), 1e-5, 1e-6));
  // Weighted by Â: scatter(w) = sum of Â_e w[e], and its adjoint gather carries the same weights.
  auto wn = ScatterEdgesToNodes(adj, we.detach(), true);
  auto wref = torch::zeros({7, 3})
                  .index_add(0, adj.edge_user, we.detach() * adj.edge_val.unsqueeze(1))
                  .index_add(0, adj.edge_item, we.detach() * adj.edge_val.unsqueeze(1));
  REQUIRE(torch::allclose(wn, wref, 1e-5, 1e-6));
  auto xw = x.detach().clone().requires_grad_(true);
  (GatherEdgePairs(adj, xw, true) * we.detach()).sum().backward();
  REQUIRE(torch::allclose(xw.grad(), wn, 1e-5, 1e-6));
}

TEST_CASE("short-row softmax and its backward match torch::softmax", "[model][kernels]") {
  torch::manual_seed(4);
  auto x = (torch::randn({5, 3, 4}) * 3).requires_grad_(true);
  auto x2 = x.detach().clone().requires_grad_(true);
  auto w = torch::randn({5, 3, 4});
  auto y = ShortRowSoftmax(x);
  auto y2 = torch::softmax(x2, -1);
  REQUIRE(torch::allclose(y, y2, 1e-5, 1e-6));
  (y * w).sum().backward();
  (y2 * w).sum().backward();
  REQUIRE(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-6));
}

TEST_CASE("gated SpMM gradients match finite differences", "[model][kernels]") {
  const Graph g = SmallGraph();
  const auto adj64 = BuildNormAdjacency(PrepareGraph(g));
  torch::manual_seed(2);
  auto x = torch::randn({7, 4}, torch::requires_grad());       // K = 2 views of 2 dims
  auto gate = torch::rand({6, 2}, torch::requires_grad());
  auto w = torch::randn({7, 4});
  auto loss = (GatedAdjacencyMatmul(adj64, x, gate) * w).sum();
  loss.backward();
  // Dense reference: per view k, (Â ∘ G_k) x_k with G_k the gate on both directions of each edge.
  const int64_t U = g.num_users;
  auto dense_fn = [&](const torch::Tensor& xx, const torch::Tensor& gg) {
    std::vector<torch::Tensor> outs;
    auto base = DenseAdjacency(g).to(torch::kFloat32);
    for (int k = 0; k < 2; ++k) {
      auto Gk = torch::zeros({7, 7});
      for (int64_t e = 0; e < 6; ++e) {
        const int64_t u = adj64.edge_user[e].item<int64_t>(), i = adj64.edge_item[e].item<int64_t>();
        Gk[u][i] = gg[e][k];
        Gk[i][u] = gg[e][k];
      }
      outs.push_back(torch::mm(base * Gk, xx.slice(1, 2 * k, 2 * k + 2)));
    }
    return torch::cat(outs, 1);
  };
  (void)U;
  auto x2 = x.detach().clone().requires_grad_(true);
  auto g2 = gate.detach().clone().requires_grad_(true);
  auto ref = (dense_fn(x2, g2) * w).sum();
  ref.backward();
  REQUIRE(torch::allclose(loss, ref, 1e-5, 1e-5));
  REQUIRE(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-5));
  REQUIRE(torch::allclose(gate.grad(), g2.grad(), 1e-5, 1e-5));
}

// The recency prompt's kernel is the gated product for a gate that depends on the edge only through its age
// bucket; dims 16 per view take the compiled-in path, 3 per view the run-time one.
TEST_CASE("bucket-weighted SpMM equals the gated product with the gate gathered by bucket", "[model][kernels]") {
  Graph g = SmallGraph();
  g.edge_age = {2, 0, 1, 0, 20, 0};
  const auto adj = BuildNormAdjacency(PrepareGraph(g));
  REQUIRE(adj.entry_bucket.defined());
  for (int64_t dk : {16, 3}) {
    torch::manual_seed(7);
    const int64_t K = 2;
    auto x = torch::randn({7, K * dk}, torch::requires_grad());
    auto w = (torch::rand({kRecencyBuckets, K}) + 0.5).requires_grad_(true);
    auto probe = torch::randn({7, K * dk});
    auto loss = (BucketWeightedAdjacencyMatmul(adj, x, w) * probe).sum();
    loss.backward();
    auto x2 = x.detach().clone().requires_grad_(true);
    auto w2 = w.detach().clone().requires_grad_(true);
    auto ref = (GatedAdjacencyMatmul(adj, x2, w2.index_select(0, adj.edge_bucket)) * probe).sum();
    ref.backward();
    REQUIRE(torch::allclose(loss, ref, 1e-5, 1e-5));
    REQUIRE(torch::allclose(x.grad(), x2.grad(), 1e-5, 1e-5));
    REQUIRE(torch::allclose(w.grad(), w2.grad(), 1e-5, 1e-5));
    REQUIRE(w.grad().abs().sum().item<double>() > 0);
  }
}

TEST_CASE("the fused edge softmax-scatter equals gather, torch softmax and weighted scatter", "[model][kernels]") {
  const auto adj = BuildNormAdjacency(PrepareGraph(SmallGraph()));  // user 3 has no edges: its row stays zero
  // (4, 4) and (4, 2) take compiled-in paths, the others the run-time one.
  // Scale 60: the two ends' factors disagree by more than exp's range in some groups (the logits path).
  for (auto [groups, m] : std::vector<std::pair<int64_t, int64_t>>{{4, 4}, {4, 2}, {2, 4}, {2, 1}, {3, 3}})
  for (double scale : {3.0, 60.0}) {
    torch::manual_seed(11);
    const int64_t f = groups * m;
    auto logits = (scale * torch::randn({7, f})).requires_grad_(true);
    auto probe = torch::randn({7, f});
    auto fused = EdgeSoftmaxScatter(adj, logits, m);
    (fused * probe).sum().backward();
    auto l2 = logits.detach().clone().requires_grad_(true);
    auto beta = torch::softmax(GatherEdgePairs(adj, l2).view({-1, groups, m}), -1).view({-1, f});
    auto ref = ScatterEdgesToNodes(adj, beta, /*weighted=*/true);
    (ref * probe).sum().backward();
    REQUIRE(torch::allclose(fused, ref, 1e-5, 1e-6));
    REQUIRE(torch::allclose(logits.grad(), l2.grad(), 1e-5, 1e-6));
    REQUIRE(fused[3].abs().sum().item<double>() == 0.0);
    if (m > 1) REQUIRE(logits.grad().abs().sum().item<double>() > 0);  // one prompt per group: softmax is constant
  }
}

TEST_CASE("every structure-prompt form gives finite outputs and gradients to its prompts", "[model][kernels]") {
  const Graph g = SmallGraph();
  const auto adj = BuildNormAdjacency(PrepareGraph(g));
  for (auto form : {StructurePrompt::kSoftmax, StructurePrompt::kEdgeGate, StructurePrompt::kOff}) {
    torch::manual_seed(3);
    NetShape shape;
    shape.dim = 8;
    shape.views = 2;
    shape.node_prompts = 3;
    shape.structure_prompts = 2;
    shape.structure = form;
    Gpt4RecNet net(shape, 4, 3);
    auto z = net->forward(adj);
    REQUIRE(z.sizes() == torch::IntArrayRef({7, 8}));
    REQUIRE(torch::isfinite(z).all().item<bool>());
    z.pow(2).sum().backward();
    std::set<std::string> names;
    for (const auto& [name, t] : net->CheckpointTensors()) {
      INFO(name);
      names.insert(name);
      REQUIRE(t.grad().defined());
      REQUIRE(torch::isfinite(t.grad()).all().item<bool>());
      if (name != "view_v") REQUIRE(t.grad().abs().sum().item<double>() > 0);
    }
    // The module tree: the backbone, then one submodule per enabled prompt, under the checkpoint names.
    REQUIRE(net->BackboneParameters().size() == 2);
    REQUIRE(names.count("view_W") == 1);
    REQUIRE(names.count("node_P") == 1);
    REQUIRE(names.count("struct_S") == (form == StructurePrompt::kSoftmax ? 1u : 0u));
    REQUIRE(names.count("struct_Gu") == (form == StructurePrompt::kOff ? 0u : 1u));
    REQUIRE(net->PromptParameters().size() + 2 == names.size());
  }
}

// d = 8 in 2 views, no node, structure or view prompt: the propagation alone, for the temporal prompts' tests.
NetShape BarePropagationShape() {
  NetShape s;
  s.dim = 8;
  s.views = 2;
  s.node_prompts = 0;
  s.structure = StructurePrompt::kOff;
  s.view_prompts = false;
  return s;
}

TEST_CASE("temporal prompts start as the identity and weigh edges by their age", "[model][kernels]") {
  Graph g = SmallGraph();
  REQUIRE(!BuildNormAdjacency(PrepareGraph(g)).edge_bucket.defined());  // no ages: nothing to weigh
  g.edge_age = {2, 0, 1, 0, 20, 0};  // user 1's only edge is one segment old
  const auto adj = BuildNormAdjacency(PrepareGraph(g));
  REQUIRE(adj.edge_bucket.defined());
  // Rows are sorted by item: user 0 (0:2, 2:0), user 1 (2:1), user 2 (0:0, 1:20, 2:0).
  std::vector<int64_t> buckets(adj.edge_bucket.data_ptr<int64_t>(), adj.edge_bucket.data_ptr<int64_t>() + 6);
  REQUIRE(buckets == std::vector<int64_t>{2, 0, 1, 0, RecencyBucket(20), 0});
  REQUIRE(RecencyBucket(20) == kRecencyBuckets - 1);
  REQUIRE(RecencyBucket(5) == 4);
  REQUIRE(RecencyBucket(6) == 5);

  NetShape plain = BarePropagationShape();
  NetShape temporal = plain;
  temporal.recency = true;
  temporal.layer_prompt = true;
  torch::manual_seed(5);
  Gpt4RecNet a(plain, 4, 3);
  torch::manual_seed(5);
  Gpt4RecNet b(temporal, 4, 3);
  // At their initial values the temporal prompts change nothing.
  REQUIRE(torch::allclose(a->forward(adj), b->forward(adj), 1e-6, 1e-6));
  REQUIRE(b->TemporalPromptParameters().size() == 2);

  torch::NoGradGuard no_grad;
  auto x = torch::cat({b->user_new, b->item_new}, 0);  // view_W = identity, view_c = 0: x^(k) is the ID row
  // Edges one segment old or older silenced: user 1 (only an old edge) keeps its own row, averaged over 3 layers.
  b->recency_prompt->recency_tau.slice(0, 1).fill_(-40.0);
  auto z = b->forward(adj);
  REQUIRE(torch::allclose(z[1], x[1] / 3.0, 1e-6, 1e-6));
  REQUIRE(!torch::allclose(z[0], x[0] / 3.0, 1e-3, 1e-3));  // user 0 still hears its new edge
  // All weight on layer 0: every node is its own ID row.
  b->layer_prompt->layer_w.select(0, 0).fill_(40.0);
  REQUIRE(torch::allclose(b->forward(adj), x, 1e-5, 1e-5));
}

TEST_CASE("scale-free recency weights redistribute a node's messages and never scale them", "[model][kernels]") {
  Graph g = SmallGraph();
  g.edge_age = {2, 0, 1, 0, 20, 0};  // user 0 (item 0: age 2, item 2: age 0), user 1 (2: 1), user 2 (0: 0, 1: 20, 2: 0)
  const auto adj = BuildNormAdjacency(PrepareGraph(g));
  NetShape plain = BarePropagationShape();
  plain.layers = 1;
  NetShape scaled = plain;
  scaled.recency = true;
  NetShape scale_free = scaled;
  scale_free.recency_scale_free = true;
  torch::manual_seed(5);
  Gpt4RecNet a(plain, 4, 3);
  torch::manual_seed(5);
  Gpt4RecNet b(scale_free, 4, 3);
  torch::manual_seed(5);
  Gpt4RecNet c(scaled, 4, 3);
  torch::NoGradGuard no_grad;
  // One weight for every age: the bounded form multiplies every message by it, the scale-free form changes nothing.
  b->recency_prompt->recency_tau.fill_(1.5);
  c->recency_prompt->recency_tau.fill_(1.5);
  REQUIRE(torch::allclose(b->forward(adj), a->forward(adj), 1e-5, 1e-5));
  REQUIRE(!torch::allclose(c->forward(adj), a->forward(adj), 1e-3, 1e-3));
  // All weight on the new edges: user 0 hears item 2 alone, with the weight of both its edges, Â_00 + Â_02
  // (degrees: user 0 two, item 0 two, item 2 three); user 1, whose only edge is old, keeps that edge's weight.
  b->recency_prompt->recency_tau.fill_(-40.0);
  b->recency_prompt->recency_tau.select(0, 0).fill_(40.0);
  auto x = torch::cat({b->user_new, b->item_new}, 0);
  auto z = b->forward(adj);
  const double w0 = 0.5 + 1.0 / std::sqrt(6.0);
  REQUIRE(torch::allclose(z[0], (x[0] + w0 * x[4 + 2]) / 2.0, 1e-5, 1e-5));
  REQUIRE(torch::allclose(z[1], (x[1] + x[4 + 2] / std::sqrt(3.0)) / 2.0, 1e-5, 1e-5));
  REQUIRE(torch::allclose(z[3], x[3] / 2.0, 1e-6, 1e-6));  // no edges: its own row only, nothing divided by zero
}

TEST_CASE("leave-out masks a step's positive edges, keeps each node's total weight and restores them bitwise",
          "[model][kernels]") {
  Graph g = SmallGraph();
  g.edge_age = {2, 0, 1, 0, 20, 0};  // user 0 (item 0: age 2, item 2: age 0), user 1 (2: 1), user 2 (0: 0, 1: 20, 2: 0)
  const auto csr = PrepareGraph(g);
  const auto adj = BuildNormAdjacency(csr);
  NetShape shape = BarePropagationShape();
  shape.layers = 1;
  shape.recency = true;
  shape.recency_scale_free = true;
  torch::manual_seed(5);
  Gpt4RecNet net(shape, 4, 3);
  torch::NoGradGuard no_grad;
  const auto x = torch::cat({net->user_new, net->item_new}, 0);
  const auto before = net->forward(adj);
  PositiveEdgeMask mask(csr, adj);
  // Nothing masked: the same product (the extra, empty bucket column may move the last float bit).
  REQUIRE(torch::allclose(net->forward(mask.adjacency()), before, 1e-6, 1e-7));
  // Mask (user 0, item 2) twice plus a pair that is no edge (user 1, item 0). User 0 then hears item 0 alone, with
  // the weight of both its edges (Â_00 + Â_02, degrees: user 0 two, item 0 two, item 2 three); item 2 hears users
  // 1 and 2 with user 0's share spread over them in proportion; user 1 and item 1 do not change.
  const int32_t users[] = {0, 1, 0}, items[] = {2, 0, 2};
  mask.Mask(users, items, 3);
  auto z = net->forward(mask.adjacency());
  const double w0 = 0.5 + 1.0 / std::sqrt(6.0);
  REQUIRE(torch::allclose(z[0], (x[0] + w0 * x[4 + 0]) / 2.0, 1e-5, 1e-5));
  const double a1 = 1.0 / std::sqrt(3.0), a2 = 1.0 / 3.0, a0 = 1.0 / std::sqrt(6.0);  // Â of users 1, 2, 0 at item 2
  const double scale = (a0 + a1 + a2) / (a1 + a2);
  REQUIRE(torch::allclose(z[4 + 2], (x[4 + 2] + scale * (a1 * x[1] + a2 * x[2])) / 2.0, 1e-5, 1e-5));
  REQUIRE(torch::allclose(z[1], before[1], 1e-6, 1e-7));
  REQUIRE(torch::allclose(z[4 + 1], before[4 + 1], 1e-6, 1e-7));
  // The same leave-out without a recency prompt, and in the bare backbone the baselines train (prompts skipped).
  NetShape no_recency = shape;
  no_recency.recency = false;
  torch::manual_seed(5);
  Gpt4RecNet plain(no_recency, 4, 3);
  torch::manual_seed(5);
  Gpt4RecNet bare(no_recency, 4, 3);
  bare->prompts_on = false;
  REQUIRE(torch::allclose(plain->forward(mask.adjacency()), z, 1e-6, 1e-7));
  REQUIRE(torch::allclose(bare->forward(mask.adjacency()), z, 1e-6, 1e-7));
  REQUIRE(!torch::allclose(bare->forward(adj), z, 1e-3, 1e-3));
  mask.Restore();
  REQUIRE(torch::equal(mask.adjacency().entry_bucket, adj.entry_bucket));
  REQUIRE(torch::equal(mask.adjacency().row_bucket_sum.slice(1, 0, kRecencyBuckets), adj.row_bucket_sum));
  REQUIRE(torch::allclose(net->forward(mask.adjacency()), before, 1e-6, 1e-7));
}

}  // namespace
}  // namespace gpt4rec::model
