// The torch-free graph helpers: validation, transposition, 2-hop initialisation, negative sampling.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "model/graph_ops.h"

namespace gpt4rec::model {
namespace {

// users 0,1 old; user 2 new. items 0,1 old; item 2 new.
//   u0: i0        u1: i0 i1        u2: i1 i2
Graph Tiny() {
  Graph g;
  g.num_users = 3;
  g.num_items = 3;
  g.indptr = {0, 1, 3, 5};
  g.indices = {0, 1, 0, 2, 1};  // u1's row unsorted on purpose
  return g;
}

TEST_CASE("graph validation names the bad field", "[model]") {
  Graph g = Tiny();
  REQUIRE(ValidateGraph(g).ok());
  g.indices[3] = 7;
  auto st = ValidateGraph(g);
  REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(st.message()).find("graph.indices[3]") != std::string::npos);
  g = Tiny();
  g.indptr.pop_back();
  REQUIRE(std::string(ValidateGraph(g).message()).find("graph.indptr") != std::string::npos);
}

TEST_CASE("prepared graph has sorted rows in both directions", "[model]") {
  auto b = PrepareGraph(Tiny());
  REQUIRE(b.user_items == std::vector<int32_t>{0, 0, 1, 1, 2});
  REQUIRE(b.item_ptr == std::vector<int64_t>{0, 2, 4, 5});
  REQUIRE(b.item_users == std::vector<int32_t>{0, 1, 1, 2, 2});
}

TEST_CASE("edge ages travel with their edges; a duplicate keeps the youngest; bad ages are refused", "[model]") {
  Graph g;
  g.num_users = 2;
  g.num_items = 3;
  g.indptr = {0, 3, 5};
  g.indices = {2, 0, 2, 1, 0};
  g.edge_age = {4, 1, 0, 7, 2};  // user 0 saw item 2 four segments ago and again now
  REQUIRE(ValidateGraph(g).ok());
  auto b = PrepareGraph(g);
  REQUIRE(b.user_items == std::vector<int32_t>{0, 2, 0, 1});
  REQUIRE(b.user_age == std::vector<int32_t>{1, 0, 2, 7});
  REQUIRE(PrepareGraph(Tiny()).user_age.empty());  // no ages in, none out

  g.edge_age[3] = -1;
  REQUIRE(std::string(ValidateGraph(g).message()).find("graph.edge_age[3]") != std::string::npos);
  g.edge_age.pop_back();
  REQUIRE(std::string(ValidateGraph(g).message()).find("graph.edge_age: size 4") != std::string::npos);
}

TEST_CASE("2-hop mean initialisation matches a hand computation", "[model]") {
  auto b = PrepareGraph(Tiny());
  const int d = 2;
  // Old user rows: u0 = (1, 2), u1 = (3, 6).
  const float users_old[] = {1, 2, 3, 6};
  float out[2];
  // u2 -> i1 -> {u1, u2}: the only old 2-hop neighbour is u1.
  TwoHopMeanInit(b, Side::kUser, users_old, 2, 1, d, out);
  REQUIRE(out[0] == 3.0f);
  REQUIRE(out[1] == 6.0f);
  // Treat u1 and u2 as new (first_new = 1): u1 -> i0 -> u0, i1 -> u2 (new): mean of {u0} = (1, 2);
  // u2 -> i1 -> u1 (new), i2 -> u2: no old neighbour -> mean of old rows = u0 = (1, 2).
  float out2[4];
  TwoHopMeanInit(b, Side::kUser, users_old, 1, 2, d, out2);
  REQUIRE(std::vector<float>(out2, out2 + 4) == std::vector<float>{1, 2, 1, 2});
  // Items: old i0 = (2, 0), i1 = (4, 8). New i2 -> u2 -> {i1, i2}: mean of {i1} = (4, 8).
  const float items_old[] = {2, 0, 4, 8};
  TwoHopMeanInit(b, Side::kItem, items_old, 2, 1, d, out);
  REQUIRE(out[0] == 4.0f);
  REQUIRE(out[1] == 8.0f);
  // i1 new too (first_new = 1): i1 -> u1 -> i0 (old), u2 -> i2 (new): mean {i0} = (2, 0); distinct, not per path.
  TwoHopMeanInit(b, Side::kItem, items_old, 1, 2, d, out2);
  REQUIRE(std::vector<float>(out2, out2 + 4) == std::vector<float>{2, 0, 2, 0});
}

TEST_CASE("2-hop mean counts each neighbour once", "[model]") {
  // u0 and u1 share two items; new u2 shares both too: u1 reached twice, u0 twice -> plain mean of u0, u1.
  Graph g;
  g.num_users = 3;
  g.num_items = 2;
  g.indptr = {0, 2, 3, 5};
  g.indices = {0, 1, 1, 0, 1};
  auto b = PrepareGraph(g);
  const float old_rows[] = {0, 0, 6, 3};
  float out[2];
  TwoHopMeanInit(b, Side::kUser, old_rows, 2, 1, 2, out);
  REQUIRE(out[0] == 3.0f);
  REQUIRE(out[1] == 1.5f);
  // Over paths instead: u2 -> i0 -> u0, u2 -> i1 -> u0, u2 -> i1 -> u1: (2 * (0,0) + (6,3)) / 3 = (2, 1).
  TwoHopMeanInit(b, Side::kUser, old_rows, 2, 1, 2, out, /*distinct=*/false);
  REQUIRE(out[0] == 2.0f);
  REQUIRE(out[1] == 1.0f);
}

TEST_CASE("path-weighted 2-hop mean on the tiny graph and its fallback", "[model]") {
  auto b = PrepareGraph(Tiny());
  const float users_old[] = {1, 2, 3, 6};
  float out2[4];
  // first_new = 1: u1 -> i0 -> u0 (one path), i1 -> u2 (new): (1, 2); u2: no old neighbour -> old mean (1, 2).
  TwoHopMeanInit(b, Side::kUser, users_old, 1, 2, 2, out2, false);
  REQUIRE(std::vector<float>(out2, out2 + 4) == std::vector<float>{1, 2, 1, 2});
  // Items, first_new = 2: i2 -> u2 -> i1 (old), i2: (4, 8).
  const float items_old[] = {2, 0, 4, 8};
  float out[2];
  TwoHopMeanInit(b, Side::kItem, items_old, 2, 1, 2, out, false);
  REQUIRE(out[0] == 4.0f);
  REQUIRE(out[1] == 8.0f);
}

TEST_CASE("negative sampling never returns a positive and is deterministic", "[model]") {
  Graph g;
  g.num_users = 2;
  g.num_items = 10;
  g.indptr = {0, 8, 9};
  g.indices = {0, 1, 2, 3, 4, 5, 6, 7, 3};
  auto b = PrepareGraph(g);
  std::vector<int32_t> users(500);
  for (size_t k = 0; k < users.size(); ++k) users[k] = static_cast<int32_t>(k % 2);
  std::vector<int64_t> a(users.size() * 3), c(users.size() * 3);
  SampleNegatives(b, users.data(), 0, users.size(), 3, 11, a.data());
  SampleNegatives(b, users.data(), 0, users.size(), 3, 11, c.data());
  REQUIRE(a == c);
  std::set<int64_t> seen_u0;
  for (size_t p = 0; p < users.size(); ++p)
    for (int n = 0; n < 3; ++n) {
      const int64_t j = a[p * 3 + n];
      REQUIRE(j >= 0);
      REQUIRE(j < 10);
      if (users[p] == 0) {
        REQUIRE(j >= 8);
        seen_u0.insert(j);
      } else {
        REQUIRE(j != 3);
      }
    }
  REQUIRE(seen_u0 == std::set<int64_t>{8, 9});
}

}  // namespace
}  // namespace gpt4rec::model
