// Paired per-user differences over segments (eval/paired.h).
#include "eval/paired.h"

#include <cmath>

namespace gpt4rec::eval {
namespace {

// One segment's per-user differences of one metric: mean and variance of the mean.
struct SegmentDiff {
  double mean = 0, var_of_mean = 0;
  int64_t n = 0;
};

SegmentDiff Diff(const RankingMetrics& a, const std::vector<float>& av, const RankingMetrics& b,
                 const std::vector<float>& bv) {
  std::vector<double> d;
  size_t j = 0;
  for (size_t i = 0; i < a.user_ids.size() && i < av.size(); ++i) {
    while (j < b.user_ids.size() && b.user_ids[j] < a.user_ids[i]) ++j;  // both ascending
    if (j < b.user_ids.size() && j < bv.size() && b.user_ids[j] == a.user_ids[i])
      d.push_back(static_cast<double>(av[i]) - static_cast<double>(bv[j]));
  }
  SegmentDiff s;
  s.n = static_cast<int64_t>(d.size());
  if (d.empty()) return s;
  for (double x : d) s.mean += x;
  s.mean /= static_cast<double>(d.size());
  if (d.size() > 1) {
    double ss = 0;
    for (double x : d) ss += (x - s.mean) * (x - s.mean);
    s.var_of_mean = ss / static_cast<double>(d.size() - 1) / static_cast<double>(d.size());
  }
  return s;
}

PairedDelta Combine(const std::vector<SegmentDiff>& segs) {
  PairedDelta p;
  if (segs.empty()) return p;
  double var = 0;
  for (const SegmentDiff& s : segs) {
    p.delta += s.mean;
    var += s.var_of_mean;
    p.pairs += s.n;
  }
  const double T = static_cast<double>(segs.size());
  p.delta /= T;
  p.standard_error = std::sqrt(var) / T;
  return p;
}

}  // namespace

PairedComparison ComparePaired(const std::string& a_name, const std::vector<const RankingMetrics*>& a,
                               const std::string& b_name, const std::vector<const RankingMetrics*>& b, size_t first) {
  PairedComparison c;
  c.a = a_name;
  c.b = b_name;
  std::vector<SegmentDiff> recall, ndcg;
  for (size_t t = first; t < a.size() && t < b.size(); ++t) {
    recall.push_back(Diff(*a[t], a[t]->user_recall20, *b[t], b[t]->user_recall20));
    ndcg.push_back(Diff(*a[t], a[t]->user_ndcg20, *b[t], b[t]->user_ndcg20));
  }
  c.recall20 = Combine(recall);
  c.ndcg20 = Combine(ndcg);
  return c;
}

}  // namespace gpt4rec::eval
