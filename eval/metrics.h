// eval/ — ranking metrics (../shared/design/GPT4REC.md §6): full ranking over all known items, the user's
// accumulated training items excluded.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recommender_model.h"

namespace gpt4rec::eval {

struct RankingMetrics {
  double recall20 = 0;
  double ndcg20 = 0;       // standard: IDCG over min(|test|, 20) ideal hits
  double ndcg20_degc = 0;  // DEGC: ideal = the top-100 list's hits re-sorted to the front; no hit -> 0
  int64_t users = 0;       // users with a non-empty test list
  // Per user, in ascending user id (every strategy of a replay sees the same users in the same order): what the
  // paired comparisons (eval/paired.h) and per_user.csv read.
  std::vector<int32_t> user_ids;
  std::vector<float> user_recall20, user_ndcg20;
};

class RankingAccumulator {
 public:
  // scores: num_items values for one user; excluded: that user's training items, sorted ascending;
  // test: the user's test items (must be non-empty). Ties rank the smaller item id first.
  void AddUser(const float* scores, int32_t num_items, const int32_t* excluded_begin, const int32_t* excluded_end,
               const std::vector<int32_t>& test, int32_t user_id = -1);
  RankingMetrics Result() const;

 private:
  double recall_ = 0, ndcg_ = 0, ndcg_degc_ = 0;
  int64_t users_ = 0;
  std::vector<int32_t> user_ids_;
  std::vector<float> user_recall_, user_ndcg_;
  std::vector<std::pair<float, int32_t>> buffer_;
};

// Scores every user with test edges in `test` through `score` (batches of users) against graph's items.
using ScoreFn = std::function<absl::Status(const std::vector<int32_t>& users, std::vector<float>* out)>;
absl::StatusOr<RankingMetrics> EvaluateTest(const model::Graph& train_graph,
                                            const std::vector<model::Interaction>& test, const ScoreFn& score,
                                            int batch_users = 512);

}  // namespace gpt4rec::eval
