// Ranking metrics of design page §6. Ranking: score descending, ties broken by the smaller item id, so results do
// not depend on the selection algorithm; NaN scores rank last.
#include <algorithm>
#include <cmath>

#include "eval/metrics.h"

namespace gpt4rec::eval {
namespace {

constexpr int kTopK = 20;
constexpr int kDegcList = 100;  // DEGC's ideal DCG re-sorts the hits of the top-100 list

double Discount(int rank) { return 1.0 / std::log2(static_cast<double>(rank) + 2.0); }

}  // namespace

void RankingAccumulator::AddUser(const float* scores, int32_t num_items, const int32_t* excluded_begin,
                                 const int32_t* excluded_end, const std::vector<int32_t>& test, int32_t user_id) {
  if (test.empty()) return;
  buffer_.clear();
  const int32_t* ex = excluded_begin;
  for (int32_t i = 0; i < num_items; ++i) {
    while (ex != excluded_end && *ex < i) ++ex;
    if (ex != excluded_end && *ex == i) continue;
    float s = scores[i];
    buffer_.emplace_back(std::isnan(s) ? -INFINITY : s, i);
  }
  const size_t list = std::min(buffer_.size(), static_cast<size_t>(kDegcList));
  auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::partial_sort(buffer_.begin(), buffer_.begin() + list, buffer_.end(), better);

  std::vector<int32_t> wanted(test);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  int hits20 = 0, hits100 = 0;
  double dcg = 0;
  for (size_t r = 0; r < list; ++r) {
    if (!std::binary_search(wanted.begin(), wanted.end(), buffer_[r].second)) continue;
    ++hits100;
    if (r < static_cast<size_t>(kTopK)) {
      ++hits20;
      dcg += Discount(static_cast<int>(r));
    }
  }
  double idcg = 0;
  for (int j = 0; j < std::min<int>(static_cast<int>(wanted.size()), kTopK); ++j) idcg += Discount(j);
  double idcg_degc = 0;
  for (int j = 0; j < std::min(hits100, kTopK); ++j) idcg_degc += Discount(j);

  const double recall = static_cast<double>(hits20) / static_cast<double>(wanted.size());
  recall_ += recall;
  ndcg_ += dcg / idcg;
  user_ids_.push_back(user_id);
  user_recall_.push_back(static_cast<float>(recall));
  user_ndcg_.push_back(static_cast<float>(dcg / idcg));
  ndcg_degc_ += hits100 > 0 ? dcg / idcg_degc : 0.0;
  ++users_;
}

RankingMetrics RankingAccumulator::Result() const {
  RankingMetrics m;
  m.users = users_;
  m.user_ids = user_ids_;
  m.user_recall20 = user_recall_;
  m.user_ndcg20 = user_ndcg_;
  if (users_ == 0) return m;
  m.recall20 = recall_ / static_cast<double>(users_);
  m.ndcg20 = ndcg_ / static_cast<double>(users_);
  m.ndcg20_degc = ndcg_degc_ / static_cast<double>(users_);
  return m;
}

absl::StatusOr<RankingMetrics> EvaluateTest(const model::Graph& train_graph,
                                            const std::vector<model::Interaction>& test, const ScoreFn& score,
                                            int batch_users) {
  // Group test items by user (users ascending).
  std::vector<model::Interaction> sorted(test);
  std::sort(sorted.begin(), sorted.end(), [](const model::Interaction& a, const model::Interaction& b) {
    return a.user < b.user || (a.user == b.user && a.item < b.item);
  });
  std::vector<int32_t> users;
  std::vector<std::vector<int32_t>> items;
  for (const model::Interaction& x : sorted) {
    if (x.user < 0 || x.user >= train_graph.num_users || x.item < 0 || x.item >= train_graph.num_items) {
      return absl::InvalidArgumentError("test: interaction (" + std::to_string(x.user) + ", " +
                                        std::to_string(x.item) + ") outside the graph's id space");
    }
    if (users.empty() || users.back() != x.user) {
      users.push_back(x.user);
      items.emplace_back();
    }
    items.back().push_back(x.item);
  }
  RankingAccumulator acc;
  std::vector<float> out;
  std::vector<int32_t> batch;
  const size_t step = static_cast<size_t>(std::max(1, batch_users));
  for (size_t b = 0; b < users.size(); b += step) {
    const size_t e = std::min(users.size(), b + step);
    batch.assign(users.begin() + b, users.begin() + e);
    out.clear();
    if (absl::Status s = score(batch, &out); !s.ok()) return s;
    const size_t n = static_cast<size_t>(train_graph.num_items);
    if (out.size() != batch.size() * n) {
      return absl::InternalError("score: returned " + std::to_string(out.size()) + " values for " +
                                 std::to_string(batch.size()) + " users x " + std::to_string(n) + " items");
    }
    for (size_t k = 0; k < batch.size(); ++k) {
      const int32_t u = batch[k];
      const int32_t* row = train_graph.indices.data();
      acc.AddUser(out.data() + k * n, train_graph.num_items, row + train_graph.indptr[u],
                  row + train_graph.indptr[u + 1], items[b + k], u);
    }
  }
  return acc.Result();
}

}  // namespace gpt4rec::eval
