// eval/ — the replay (../shared/design/GPT4REC.md §5 steps 6–7): every strategy over every segment, side by
// side. The model is reached only through model/recommender_model.h.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/metrics.h"
#include "eval/paired.h"
#include "eval/preprocess.h"
#include "model/recommender_model.h"

namespace gpt4rec::eval {

struct ReplayOptions {
  std::vector<model::Strategy> strategies;
  model::ModelConfig model;  // its `strategy` is replaced by each entry of `strategies`
  int eval_batch_users = 512;
  std::ostream* progress = nullptr;  // strategy, segment, epoch, ETA lines (stderr in the CLI); may be null
};

struct StrategySegment {
  RankingMetrics test;
  double train_seconds = 0;
  double train_epoch_seconds = 0;  // mean over epochs of the training steps alone (no validation)
  double eval_seconds = 0;
  int epochs = 0;
  int best_epoch = 0;
  double best_valid_recall20 = 0;
  std::string mode;
  bool reads_old_data = false;   // trained on edges of earlier segments (retrain, replay_*)
  int64_t replayed_edges = 0;    // replay_*: old edges added to the segment's positives
  double peak_rss_mib = 0;       // the process's peak resident memory during this update (eval/resource_usage.h)
  double train_cpu_seconds = 0;  // the process's CPU seconds during this update
};

struct StrategySummary {
  std::string name;
  // Averages over incremental segments t >= 1 (over all segments when there is only one).
  double recall20_avg = 0, ndcg20_avg = 0, ndcg20_degc_avg = 0;
  double train_s_total = 0;
  double train_s_incremental_avg = 0;  // mean training seconds over t >= 1 (over all when only one)
  double train_cpu_s_incremental_avg = 0;  // the same for the update's CPU seconds
  double peak_rss_mib = 0;             // max over segments of StrategySegment::peak_rss_mib
  bool reads_old_data = false;         // in any segment
};

struct ReplayResult {
  std::vector<std::string> strategies;
  std::vector<std::vector<StrategySegment>> per_strategy;  // [strategy][segment]
  std::vector<StrategySummary> summary;                     // [strategy]
  // With gpt4rec among the strategies: gpt4rec − each other strategy, paired per user over t >= 1.
  std::vector<PairedComparison> paired;
};

absl::StatusOr<ReplayResult> RunReplay(const SegmentedStream& stream, const ReplayOptions& options);
StrategySummary Summarise(const std::string& name, const std::vector<StrategySegment>& segments);

}  // namespace gpt4rec::eval
