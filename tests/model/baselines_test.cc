// The continual-learning baselines' own parts on tiny graphs: LSP's distillation term against a hand-computed
// value, the replay reservoir's contents, and its draw frequencies against the formula at a fixed seed.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "model/graph_ops.h"
#include "model/lsp_distill.h"
#include "model/replay_reservoir.h"

namespace gpt4rec::model {
namespace {

// users: 0 -> {0, 1}, 1 -> {1, 2, 3}, 2 -> {3}; 3 items... plus item 4 and user 3, which are "new".
Graph TinyGraph() {
  Graph g;
  g.num_users = 4;
  g.num_items = 5;
  g.indptr = {0, 2, 5, 6, 8};
  g.indices = {0, 1, 1, 2, 3, 3, 0, 4};
  return g;
}

TEST_CASE("LSP's term is KL(student || teacher) over each old node's drawn neighbours, batch-averaged per side",
          "[model][baselines]") {
  const BipartiteCsr g = PrepareGraph(TinyGraph());
  // Old nodes: users 0..2, items 0..3 (user 3 and item 4 are new). d = 2.
  const torch::Tensor teacher_u = torch::tensor({{0.5f, -0.2f}, {0.1f, 0.4f}, {-0.3f, 0.2f}});
  const torch::Tensor teacher_i = torch::tensor({{0.2f, 0.1f}, {-0.4f, 0.3f}, {0.6f, 0.0f}, {0.1f, -0.5f}});
  const int K = 2;
  LspTargets t = BuildLspTargets(g, teacher_u, teacher_i, K, 99);

  // Neighbours are old ones of each node; user 2's only neighbour is item 3, drawn twice.
  auto nb = t.user_neighbours.accessor<int64_t, 2>();
  REQUIRE(nb[2][0] == 3);
  REQUIRE(nb[2][1] == 3);
  const std::map<int, std::set<int>> user_items = {{0, {0, 1}}, {1, {1, 2, 3}}, {2, {3}}};
  for (int u = 0; u < 3; ++u)
    for (int k = 0; k < K; ++k) REQUIRE(user_items.at(u).count(static_cast<int>(nb[u][k])) == 1);
  // User 0 has exactly K neighbours: drawn with replacement (as DEGC draws when a node has <= K).
  // User 1 has 3 > K: drawn without replacement, so two distinct items.
  REQUIRE(nb[1][0] != nb[1][1]);
  // Item 0's old neighbours: user 0 only (user 3 is new).
  REQUIRE(t.item_valid[0].item<bool>());
  REQUIRE(t.item_neighbours[0][0].item<int64_t>() == 0);
  REQUIRE(t.item_neighbours[0][1].item<int64_t>() == 0);

  // The teacher is a copy: moving the rows it was built from does not move it.
  torch::Tensor student_u = teacher_u.clone(), student_i = teacher_i.clone();
  student_u.add_(torch::tensor({{0.3f, 0.1f}, {-0.2f, 0.5f}, {0.0f, -0.4f}}));
  student_i.add_(torch::tensor({{-0.1f, 0.2f}, {0.3f, 0.0f}, {0.2f, -0.3f}, {0.0f, 0.1f}}));
  REQUIRE(torch::equal(t.teacher_users, teacher_u));

  // Hand computation in double, from the raw rows and the drawn neighbour lists.
  auto row = [](const torch::Tensor& m, int64_t r) {
    return std::vector<double>{m[r][0].item<float>(), m[r][1].item<float>()};
  };
  auto log_softmax_dots = [&](const torch::Tensor& self, int64_t n, const torch::Tensor& other,
                              const std::vector<int64_t>& ids) {
    std::vector<double> s;
    for (int64_t j : ids) {
      auto a = row(self, n), b = row(other, j);
      s.push_back(a[0] * b[0] + a[1] * b[1]);
    }
    double mx = std::max(s[0], s[1]), z = 0;
    for (double v : s) z += std::exp(v - mx);
    for (double& v : s) v = v - mx - std::log(z);
    return s;
  };
  auto kl = [&](const torch::Tensor& st_self, const torch::Tensor& st_other, const torch::Tensor& te_self,
                const torch::Tensor& te_other, int64_t n, const torch::Tensor& neighbours) {
    std::vector<int64_t> ids = {neighbours[n][0].item<int64_t>(), neighbours[n][1].item<int64_t>()};
    auto lq = log_softmax_dots(st_self, n, st_other, ids), lp = log_softmax_dots(te_self, n, te_other, ids);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(lq[k]) * (lq[k] - lp[k]);
    return sum;
  };
  // Batch: users 0, 2, 2 and 3 (new: skipped); items 1, 4 (new: skipped), 3.
  const torch::Tensor bu = torch::tensor({0, 2, 2, 3}, torch::kLong), bi = torch::tensor({1, 4, 3}, torch::kLong);
  const double user_part = (kl(student_u, student_i, teacher_u, teacher_i, 0, t.user_neighbours) +
                            2 * kl(student_u, student_i, teacher_u, teacher_i, 2, t.user_neighbours)) / 3;
  const double item_part = (kl(student_i, student_u, teacher_i, teacher_u, 1, t.item_neighbours) +
                            kl(student_i, student_u, teacher_i, teacher_u, 3, t.item_neighbours)) / 2;
  const double expected = user_part + item_part;
  const double got = LspLoss(student_u, student_i, t, bu, bi).item<double>();
  INFO("expected " << expected << ", got " << got);
  REQUIRE(expected > 1e-4);  // the rows moved, so the term is not trivially zero
  REQUIRE(got == Approx(expected).epsilon(1e-5));
  // At the teacher's own rows the term vanishes, and it has a gradient only in the student's rows.
  REQUIRE(LspLoss(teacher_u, teacher_i, t, bu, bi).item<double>() == Approx(0).margin(1e-7));
  student_u.requires_grad_(true);
  LspLoss(student_u, student_i, t, bu, bi).backward();
  REQUIRE(student_u.grad().abs().sum().item<double>() > 0);
  REQUIRE(!t.teacher_users.requires_grad());
}

TEST_CASE("the reservoir is every old edge by default, or a stable uniform sample of a fixed size",
          "[model][baselines]") {
  const Graph g = TinyGraph();
  const EdgeList full = ReservoirEdges(g, 0, 5);
  REQUIRE(full.users == std::vector<int32_t>{0, 0, 1, 1, 1, 2, 3, 3});
  REQUIRE(full.items == g.indices);

  // A bounded reservoir: `capacity` edges of the graph; as the graph grows, an edge that left never returns and
  // the ones that stay are exactly the old reservoir's survivors.
  Graph big;
  big.num_users = 200;
  big.num_items = 300;
  big.indptr = {0};
  for (int32_t u = 0; u < big.num_users; ++u) {
    for (int32_t i = u % 7; i < big.num_items; i += 11) big.indices.push_back(i);
    big.indptr.push_back(static_cast<int64_t>(big.indices.size()));
  }
  Graph half = big;  // the first half of the users' edges came "earlier"
  half.indices.clear();
  half.indptr = {0};
  for (int32_t u = 0; u < big.num_users; ++u) {
    const int64_t b = big.indptr[u], e = big.indptr[u + 1], mid = b + (e - b) / 2;
    half.indices.insert(half.indices.end(), big.indices.begin() + b, big.indices.begin() + mid);
    half.indptr.push_back(static_cast<int64_t>(half.indices.size()));
  }
  const int64_t cap = 500;
  const EdgeList before = ReservoirEdges(half, cap, 5), after = ReservoirEdges(big, cap, 5);
  REQUIRE(before.size() == cap);
  REQUIRE(after.size() == cap);
  std::set<std::pair<int32_t, int32_t>> in_before, in_after, in_half;
  for (size_t k = 0; k < cap; ++k) in_before.insert({before.users[k], before.items[k]});
  for (size_t k = 0; k < cap; ++k) in_after.insert({after.users[k], after.items[k]});
  for (int32_t u = 0; u < half.num_users; ++u)
    for (int64_t j = half.indptr[u]; j < half.indptr[u + 1]; ++j) in_half.insert({u, half.indices[j]});
  for (const auto& e : in_before) REQUIRE(in_half.count(e) == 1);
  for (const auto& e : in_after)
    if (in_half.count(e)) REQUIRE(in_before.count(e) == 1);  // a survivor, never a returning edge
  // Uniform over the edges seen: about half of `after` comes from the first half of the edges.
  int from_half = 0;
  for (const auto& e : in_after) from_half += static_cast<int>(in_half.count(e));
  REQUIRE(from_half > 200);
  REQUIRE(from_half < 300);
}

TEST_CASE("inverse-degree draws follow P(u, i) = 1 / (deg_R(u) * users in R) at a fixed seed", "[model][baselines]") {
  const EdgeList r = ReservoirEdges(TinyGraph(), 0, 5);  // user degrees 2, 3, 1, 2: four users
  const std::vector<double> w = ReplayWeights(r, ReplayWeighting::kInverseDegree);
  const int64_t draws = 400000;
  const std::vector<int64_t> counts = DrawCounts(w, draws, 17);
  const std::map<int32_t, int> degree = {{0, 2}, {1, 3}, {2, 1}, {3, 2}};
  for (size_t k = 0; k < r.size(); ++k) {
    const double p = 1.0 / (degree.at(r.users[k]) * 4.0);
    const double sd = std::sqrt(p * (1 - p) / draws);
    INFO("edge " << k << " user " << r.users[k] << ": frequency " << counts[k] / double(draws) << ", formula " << p);
    REQUIRE(std::abs(counts[k] / static_cast<double>(draws) - p) < 4 * sd);
  }
  // Uniform draws: 1/8 each.
  const std::vector<int64_t> uniform = DrawCounts(ReplayWeights(r, ReplayWeighting::kUniform), draws, 17);
  for (int64_t c : uniform) REQUIRE(std::abs(c / static_cast<double>(draws) - 0.125) < 4 * std::sqrt(0.125 * 0.875 / draws));
  // Deterministic in the seed, and the replayed edges are the distinct drawn ones.
  REQUIRE(DrawCounts(w, draws, 17) == counts);
  const std::vector<int64_t> few = DrawCounts(w, 3, 17);
  const EdgeList drawn = DrawnEdges(r, few);
  int64_t distinct = 0;
  for (int64_t c : few) distinct += c > 0;
  REQUIRE(static_cast<int64_t>(drawn.size()) == distinct);
  REQUIRE(distinct >= 1);
}

}  // namespace
}  // namespace gpt4rec::model
