// eval/ — paired differences between two strategies of one replay: every strategy is scored on the same test
// users of each segment, so a per-user difference removes what the users themselves contribute to the variance.
// Used to say whether one strategy's lead over another on the t >= 1 averages is more than sampling noise.
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.h"

namespace gpt4rec::eval {

// Δ = a − b of one metric's average over segments (the replay's t >= 1 figure: the mean over segments of each
// segment's mean over its test users), with its standard error from the per-user differences,
// SE² = Σ_t var_t(Δ) / (n_t T²), the segments independent (disjoint test users per segment's own split).
struct PairedDelta {
  double delta = 0;
  double standard_error = 0;
  int64_t pairs = 0;  // user-segment pairs
  // |delta| / standard_error (0 when the standard error is 0).
  double z() const { return standard_error > 0 ? delta / standard_error : 0; }
};

struct PairedComparison {
  std::string a, b;  // strategy names: Δ = a − b
  PairedDelta recall20, ndcg20;
};

// `a` and `b`: one strategy's test metrics per segment, the same segments in the same order; only segments
// from `first` on count (the replay passes 1 when there is more than one segment). Users are matched by id
// (RankingMetrics::user_ids); a user present in only one of the two is skipped.
PairedComparison ComparePaired(const std::string& a_name, const std::vector<const RankingMetrics*>& a,
                               const std::string& b_name, const std::vector<const RankingMetrics*>& b, size_t first);

}  // namespace gpt4rec::eval
