// Paired differences between strategies (eval/paired.h) against hand-computed values.
#include <cmath>

#include <catch2/catch.hpp>

#include "eval/paired.h"

namespace ev = gpt4rec::eval;

namespace {

ev::RankingMetrics Users(std::vector<int32_t> ids, std::vector<float> recall, std::vector<float> ndcg) {
  ev::RankingMetrics m;
  m.user_ids = std::move(ids);
  m.user_recall20 = std::move(recall);
  m.user_ndcg20 = std::move(ndcg);
  m.users = static_cast<int64_t>(m.user_ids.size());
  return m;
}

}  // namespace

TEST_CASE("paired delta: mean of per-segment means, standard error from the per-user differences") {
  // Segment 0 is skipped (first = 1). Segment 1: differences 0.5, 0, 0.25 (users 1, 2, 3); user 9 only in a.
  // Segment 2: differences 0, 1 (users 4, 5).
  ev::RankingMetrics a0 = Users({1}, {1}, {1}), b0 = Users({1}, {0}, {0});
  ev::RankingMetrics a1 = Users({1, 2, 3, 9}, {0.5f, 0.5f, 0.75f, 1}, {0, 0, 0, 0});
  ev::RankingMetrics b1 = Users({1, 2, 3}, {0, 0.5f, 0.5f}, {0, 0, 0});
  ev::RankingMetrics a2 = Users({4, 5}, {0, 1}, {0.5f, 0.5f});
  ev::RankingMetrics b2 = Users({4, 5}, {0, 0}, {0, 0});
  auto c = ev::ComparePaired("a", {&a0, &a1, &a2}, "b", {&b0, &b1, &b2}, 1);
  CHECK(c.a == "a");
  CHECK(c.b == "b");
  CHECK(c.recall20.pairs == 5);
  // Means 0.25 and 0.5 -> delta 0.375. Variances of the means: segment 1 sample variance
  // ((0.25)^2 + (0.25)^2 + 0) / 2 = 0.0625, / 3 users; segment 2: ((0.5)^2 * 2) / 1 = 0.5, / 2 users.
  CHECK(c.recall20.delta == Approx(0.375));
  CHECK(c.recall20.standard_error == Approx(std::sqrt(0.0625 / 3 + 0.25) / 2));
  CHECK(c.recall20.z() == Approx(0.375 / (std::sqrt(0.0625 / 3 + 0.25) / 2)));
  // NDCG: segment 1 differences all 0, segment 2 both 0.5: delta 0.25, no spread -> standard error 0, z 0.
  CHECK(c.ndcg20.delta == Approx(0.25));
  CHECK(c.ndcg20.standard_error == Approx(0.0));
  CHECK(c.ndcg20.z() == 0.0);
}

TEST_CASE("paired delta of a strategy against itself is exactly zero") {
  ev::RankingMetrics s0 = Users({1, 2}, {0.1f, 0.2f}, {0.3f, 0.4f}), s1 = Users({3, 7}, {1, 0}, {0.5f, 0});
  auto c = ev::ComparePaired("x", {&s0, &s1}, "x", {&s0, &s1}, 0);
  CHECK(c.recall20.delta == 0.0);
  CHECK(c.recall20.standard_error == 0.0);
  CHECK(c.recall20.pairs == 4);
}

TEST_CASE("the accumulator keeps each user's metrics in order") {
  std::vector<float> scores = {3, 2, 1};
  ev::RankingAccumulator acc;
  acc.AddUser(scores.data(), 3, nullptr, nullptr, {0}, 5);
  acc.AddUser(scores.data(), 3, nullptr, nullptr, {1, 2}, 8);
  auto m = acc.Result();
  REQUIRE(m.user_ids == std::vector<int32_t>{5, 8});
  CHECK(m.user_recall20[0] == Approx(1.0));
  CHECK(m.user_recall20[1] == Approx(1.0));
  CHECK(m.user_ndcg20[0] == Approx(1.0));
  // Items 1 and 2 at ranks 1 and 2 (0-based) of the ranking 0, 1, 2.
  auto D = [](int rank) { return 1.0 / std::log2(rank + 2.0); };
  CHECK(m.user_ndcg20[1] == Approx((D(1) + D(2)) / (D(0) + D(1))));
}
