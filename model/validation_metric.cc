#include "model/validation_metric.h"

#include <algorithm>
#include <cmath>

namespace gpt4rec::model {

ValidSet GroupValid(const std::vector<Interaction>& valid, int32_t num_users, int32_t num_items) {
  std::vector<std::vector<int32_t>> by_user(num_users);
  for (const auto& e : valid)
    if (e.user >= 0 && e.user < num_users && e.item >= 0 && e.item < num_items) by_user[e.user].push_back(e.item);
  ValidSet v;
  for (int32_t u = 0; u < num_users; ++u) {
    if (by_user[u].empty()) continue;
    std::sort(by_user[u].begin(), by_user[u].end());
    by_user[u].erase(std::unique(by_user[u].begin(), by_user[u].end()), by_user[u].end());
    v.users.push_back(u);
    v.items.push_back(std::move(by_user[u]));
  }
  return v;
}

ValidScore ValidRecall20(const torch::Tensor& z, const BipartiteCsr& g, const ValidSet& v) {
  if (v.users.empty()) return {};
  torch::NoGradGuard no_grad;
  const int64_t U = g.num_users, I = g.num_items;
  auto zi = z.slice(0, U, U + I);
  const int64_t k = std::min<int64_t>(20, I);
  double sum = 0, sum_sq = 0;
  const int64_t batch = 512;
  for (int64_t b0 = 0; b0 < static_cast<int64_t>(v.users.size()); b0 += batch) {
    const int64_t b1 = std::min<int64_t>(b0 + batch, v.users.size());
    auto idx = torch::from_blob(const_cast<int32_t*>(v.users.data()) + b0, {b1 - b0}, torch::kInt32).to(torch::kLong);
    auto scores = torch::mm(z.index_select(0, idx), zi.t()).contiguous();
    float* s = scores.data_ptr<float>();
    for (int64_t r = 0; r < b1 - b0; ++r) {
      const int32_t u = v.users[b0 + r];
      for (int64_t j = g.user_ptr[u]; j < g.user_ptr[u + 1]; ++j) s[r * I + g.user_items[j]] = -INFINITY;
    }
    auto top = std::get<1>(scores.topk(k, 1)).contiguous();
    const int64_t* t = top.data_ptr<int64_t>();
    for (int64_t r = 0; r < b1 - b0; ++r) {
      const auto& truth = v.items[b0 + r];
      int hits = 0;
      for (int64_t c = 0; c < k; ++c)
        hits += std::binary_search(truth.begin(), truth.end(), static_cast<int32_t>(t[r * k + c]));
      const double recall = static_cast<double>(hits) / truth.size();
      sum += recall;
      sum_sq += recall * recall;
    }
  }
  const double n = static_cast<double>(v.users.size()), mean = sum / n;
  const double var = n > 1 ? std::max(0.0, (sum_sq - n * mean * mean) / (n - 1)) : 0.0;
  return {mean, std::sqrt(var / n)};
}

}  // namespace gpt4rec::model
