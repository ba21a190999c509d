// eval/ — the replay's reports: results.json, results.csv, the recall SVG, the console table and the one-line
// JSON summary.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "eval/preprocess.h"
#include "eval/replay_driver.h"

namespace gpt4rec::eval {

// Reports. `config_json` is a JSON object text copied into results.json's "config".
struct ReportInfo {
  std::string dataset;
  std::string config_json = "{}";
};
absl::Status WriteResultsJson(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                              const ReplayResult& result);
absl::Status WriteResultsCsv(const std::string& path, const SegmentedStream& stream, const ReplayResult& result);
absl::Status WriteRecallSvg(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                            const ReplayResult& result);
// One row per (segment, strategy, test user): the user's Recall@20 and NDCG@20, for comparisons across runs.
absl::Status WritePerUserCsv(const std::string& path, const SegmentedStream& stream, const ReplayResult& result);
std::string ResultsTable(const SegmentedStream& stream, const ReplayResult& result);  // human-readable
std::string SummaryJsonLine(const ReportInfo& info, const SegmentedStream& stream, const ReplayResult& result);

}  // namespace gpt4rec::eval
