// Recall@20, NDCG@20 (standard) and NDCG@20 (DEGC) against hand-computed values.
#include <cmath>

#include <catch2/catch.hpp>

#include "eval/metrics.h"

namespace ev = gpt4rec::eval;

namespace {

double D(int rank) { return 1.0 / std::log2(rank + 2.0); }  // discount of 0-based rank

// Scores that rank items by ascending id: item i scores n - i.
std::vector<float> Descending(int n) {
  std::vector<float> s(n);
  for (int i = 0; i < n; ++i) s[i] = static_cast<float>(n - i);
  return s;
}

}  // namespace

TEST_CASE("one user: hits inside the top 20, an excluded training item") {
  auto scores = Descending(30);
  std::vector<int32_t> excluded = {1};  // ranking becomes 0, 2, 3, 4, 5, ...
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 30, excluded.data(), excluded.data() + 1, {2, 5});
  auto m = acc.Result();
  CHECK(m.users == 1);
  CHECK(m.recall20 == Approx(1.0));
  const double dcg = D(1) + D(4);  // item 2 at rank 1, item 5 at rank 4
  CHECK(m.ndcg20 == Approx(dcg / (D(0) + D(1))));
  CHECK(m.ndcg20_degc == Approx(dcg / (D(0) + D(1))));
}

TEST_CASE("standard and DEGC NDCG differ when a test item is outside the top 100") {
  auto scores = Descending(150);
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 150, nullptr, nullptr, {2, 140});
  auto m = acc.Result();
  CHECK(m.recall20 == Approx(0.5));
  CHECK(m.ndcg20 == Approx(D(2) / (D(0) + D(1))));  // IDCG over min(|test|, 20) = 2 ideal hits
  CHECK(m.ndcg20_degc == Approx(D(2) / D(0)));       // only 1 hit in the top-100 list, re-sorted to the front
}

TEST_CASE("a hit in the top 100 but not the top 20 counts 0 in both; averages over users") {
  auto scores = Descending(150);
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 150, nullptr, nullptr, {50});  // rank 50: DEGC IDCG = D(0), DCG@20 = 0
  acc.AddUser(scores.data(), 150, nullptr, nullptr, {0, 1, 2, 3});
  acc.AddUser(scores.data(), 150, nullptr, nullptr, {});  // no test list: not counted
  auto m = acc.Result();
  CHECK(m.users == 2);
  CHECK(m.recall20 == Approx(0.5));
  CHECK(m.ndcg20 == Approx(0.5));
  CHECK(m.ndcg20_degc == Approx(0.5));
}

TEST_CASE("more than 20 test items: IDCG is capped at 20 positions") {
  auto scores = Descending(100);
  std::vector<int32_t> test;
  for (int i = 0; i < 40; i += 2) test.push_back(i);  // 20 items at ranks 0, 2, ..., 38
  for (int i = 60; i < 70; ++i) test.push_back(i);    // 10 more at ranks 60..69
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 100, nullptr, nullptr, test);
  auto m = acc.Result();
  double dcg = 0, idcg = 0;
  for (int r = 0; r < 20; r += 2) dcg += D(r);
  for (int r = 0; r < 20; ++r) idcg += D(r);
  CHECK(m.recall20 == Approx(10.0 / 30.0));
  CHECK(m.ndcg20 == Approx(dcg / idcg));
  CHECK(m.ndcg20_degc == Approx(dcg / idcg));  // 30 hits in the top 100: ideal also fills all 20 positions
}

TEST_CASE("ties rank the smaller item id first; NaN ranks last") {
  std::vector<float> scores(25, 1.0f);
  scores[0] = std::nanf("");
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 25, nullptr, nullptr, {20, 0});  // ranking 1..24 then 0: 20 at rank 19, 0 at rank 24
  auto m = acc.Result();
  CHECK(m.recall20 == Approx(0.5));
  CHECK(m.ndcg20 == Approx(D(19) / (D(0) + D(1))));
  CHECK(m.ndcg20_degc == Approx(D(19) / (D(0) + D(1))));
}

TEST_CASE("EvaluateTest groups test edges by user, excludes training edges, batch size does not matter") {
  gpt4rec::model::Graph g;
  g.num_users = 3;
  g.num_items = 30;
  g.indptr = {0, 2, 2, 3};
  g.indices = {0, 1, 0};  // user 0 trained on items 0,1; user 2 on item 0
  std::vector<gpt4rec::model::Interaction> test = {{0, 2}, {2, 1}, {0, 25}};
  auto score = [](const std::vector<int32_t>& users, std::vector<float>* out) {
    for (size_t k = 0; k < users.size(); ++k) {
      auto s = Descending(30);
      out->insert(out->end(), s.begin(), s.end());
    }
    return absl::OkStatus();
  };
  auto a = ev::EvaluateTest(g, test, score, 1);
  auto b = ev::EvaluateTest(g, test, score, 100);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->users == 2);
  // user 0: ranking 2,3,...: item 2 at rank 0, item 25 at rank 23 -> recall 1/2; user 2: item 1 at rank 0.
  CHECK(a->recall20 == Approx((0.5 + 1.0) / 2));
  CHECK(a->ndcg20 == Approx((D(0) / (D(0) + D(1)) + 1.0) / 2));
  // Item 25 (rank 23) is in user 0's top-100 list, so DEGC's ideal also has 2 hits: same as standard here.
  CHECK(a->ndcg20_degc == Approx((D(0) / (D(0) + D(1)) + 1.0) / 2));
  CHECK(a->recall20 == b->recall20);
  CHECK(a->ndcg20 == b->ndcg20);

  std::vector<gpt4rec::model::Interaction> outside = {{5, 1}};
  CHECK_FALSE(ev::EvaluateTest(g, outside, score, 8).ok());
}
