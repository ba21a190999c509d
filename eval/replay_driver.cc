// The replay (design page §5 steps 6–7): for every segment, each strategy's model consumes the segment (update on
// its train split, early stop on its validation split), then is scored on the segment's test split.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "eval/replay_driver.h"

#include "eval/resource_usage.h"

namespace gpt4rec::eval {
namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string FormatSeconds(double s) {
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof(buf), "%.0fs", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof(buf), "%.1fmin", s / 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1fh", s / 3600);
  }
  return buf;
}

}  // namespace

StrategySummary Summarise(const std::string& name, const std::vector<StrategySegment>& segments) {
  StrategySummary s;
  s.name = name;
  const size_t first = segments.size() > 1 ? 1 : 0;
  for (const StrategySegment& seg : segments) {
    s.train_s_total += seg.train_seconds;
    s.peak_rss_mib = std::max(s.peak_rss_mib, seg.peak_rss_mib);
    s.reads_old_data = s.reads_old_data || seg.reads_old_data;
  }
  if (segments.empty()) return s;
  for (size_t t = first; t < segments.size(); ++t) {
    s.train_s_incremental_avg += segments[t].train_seconds;
    s.train_cpu_s_incremental_avg += segments[t].train_cpu_seconds;
    s.recall20_avg += segments[t].test.recall20;
    s.ndcg20_avg += segments[t].test.ndcg20;
    s.ndcg20_degc_avg += segments[t].test.ndcg20_degc;
  }
  const double n = static_cast<double>(segments.size() - first);
  s.train_s_incremental_avg /= n;
  s.train_cpu_s_incremental_avg /= n;
  s.recall20_avg /= n;
  s.ndcg20_avg /= n;
  s.ndcg20_degc_avg /= n;
  return s;
}

absl::StatusOr<ReplayResult> RunReplay(const SegmentedStream& stream, const ReplayOptions& options) {
  if (options.strategies.empty()) return absl::InvalidArgumentError("strategies: none given");
  if (stream.segments.empty()) return absl::InvalidArgumentError("stream: no segments");
  ReplayResult result;
  std::vector<std::unique_ptr<model::RecommenderModel>> models;
  for (model::Strategy s : options.strategies) {
    model::ModelConfig config = options.model;
    config.strategy = s;
    auto m = model::RecommenderModel::Create(config);
    if (!m.ok()) return m.status();
    models.push_back(std::move(*m));
    result.strategies.push_back(model::StrategyName(s));
  }
  result.per_strategy.assign(models.size(), std::vector<StrategySegment>(stream.segments.size()));

  const auto start = std::chrono::steady_clock::now();
  const size_t T = stream.segments.size();
  std::ostream* log = options.progress;
  for (size_t t = 0; t < T; ++t) {
    const Segment& seg = stream.segments[t];
    const model::Graph graph = AccumulatedTrainingGraph(stream, t);
    model::SegmentInput input;
    input.graph = &graph;
    input.train = seg.train;
    input.valid = seg.valid;
    for (size_t k = 0; k < models.size(); ++k) {
      const std::string& name = result.strategies[k];
      const double eta = t == 0 ? 0 : Since(start) / static_cast<double>(t) * static_cast<double>(T - t);
      auto on_epoch = [&](const model::EpochLog& e) {
        if (log == nullptr) return;
        char buf[256];
        std::snprintf(buf, sizeof(buf),
                      "[replay] segment %zu/%zu (%s) %-8s epoch %2d loss %.4f valid R@20 %.4f (%.1fs) | elapsed %s "
                      "ETA %s\n",
                      t + 1, T, seg.label.c_str(), name.c_str(), e.epoch, e.loss, e.valid_recall20, e.seconds,
                      FormatSeconds(Since(start)).c_str(), t == 0 ? "?" : FormatSeconds(eta).c_str());
        *log << buf << std::flush;
      };
      ResetPeakResident();
      const double cpu_before = ProcessCpuSeconds();
      auto report = models[k]->Update(input, on_epoch);
      const double cpu_seconds = ProcessCpuSeconds() - cpu_before;
      const double peak_mib = PeakResidentMiB();
      if (!report.ok()) {
        return absl::Status(report.status().code(), "segment " + std::to_string(t) + " (" + seg.label + "), " +
                                                        name + ": " + std::string(report.status().message()));
      }
      StrategySegment& out = result.per_strategy[k][t];
      out.train_seconds = report->seconds;
      out.epochs = report->epochs;
      out.best_epoch = report->best_epoch;
      for (const model::EpochLog& e : report->log) out.train_epoch_seconds += e.train_seconds / report->log.size();
      out.best_valid_recall20 = report->best_valid_recall20;
      out.mode = model::TrainModeName(report->mode);
      out.reads_old_data = report->reads_old_data;
      out.replayed_edges = report->replayed_edges;
      out.peak_rss_mib = peak_mib;
      out.train_cpu_seconds = cpu_seconds;
      const auto eval_start = std::chrono::steady_clock::now();
      const model::RecommenderModel* m = models[k].get();
      auto metrics = EvaluateTest(
          graph, seg.test,
          [m](const std::vector<int32_t>& users, std::vector<float>* scores) { return m->Score(users, scores); },
          options.eval_batch_users);
      if (!metrics.ok()) return metrics.status();
      out.test = *metrics;
      out.eval_seconds = Since(eval_start);
      if (log != nullptr) {
        char buf[256];
        std::snprintf(buf, sizeof(buf),
                      "[replay] segment %zu/%zu (%s) %-8s %s: %d epochs, train %.1fs, peak %.0f MiB%s | test R@20 "
                      "%.4f N@20 %.4f N@20(DEGC) %.4f over %lld users\n",
                      t + 1, T, seg.label.c_str(), name.c_str(), out.mode.c_str(), out.epochs, out.train_seconds,
                      out.peak_rss_mib, out.reads_old_data ? ", reads old data" : "",
                      out.test.recall20, out.test.ndcg20, out.test.ndcg20_degc,
                      static_cast<long long>(out.test.users));
        *log << buf << std::flush;
      }
    }
  }
  for (size_t k = 0; k < models.size(); ++k) {
    result.summary.push_back(Summarise(result.strategies[k], result.per_strategy[k]));
  }
  auto tests = [&](size_t k) {
    std::vector<const RankingMetrics*> out;
    for (const StrategySegment& s : result.per_strategy[k]) out.push_back(&s.test);
    return out;
  };
  const auto ref = std::find(result.strategies.begin(), result.strategies.end(), "gpt4rec");
  if (ref != result.strategies.end()) {
    const size_t r = static_cast<size_t>(ref - result.strategies.begin());
    for (size_t k = 0; k < models.size(); ++k) {
      if (k == r) continue;
      result.paired.push_back(
          ComparePaired(result.strategies[r], tests(r), result.strategies[k], tests(k), T > 1 ? 1 : 0));
    }
  }
  return result;
}

}  // namespace gpt4rec::eval
