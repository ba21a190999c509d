// End-to-end replay on a tiny synthetic stream with real models: segment count, metric ranges, each strategy's
// update mode, Pop's numbers against an independent hand computation, and the reports.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "eval/loaders.h"
#include "eval/preprocess.h"
#include "eval/replay_driver.h"
#include "eval/report.h"
#include "eval/synth.h"
#include "tests/common/temp_dir.h"

namespace ev = gpt4rec::eval;
namespace md = gpt4rec::model;

namespace {

// Recall@20 of "most popular first" computed straight from the segments' split lists, sharing no code with the
// replay (popularity = training degree over segments 0..t; ties: smaller id first; own training items excluded).
double HandPopRecall(const ev::SegmentedStream& s, size_t t) {
  const int32_t items = s.segments[t].num_items;
  std::vector<int64_t> degree(items, 0);
  std::map<int32_t, std::set<int32_t>> seen;
  for (size_t k = 0; k <= t; ++k) {
    for (const auto& x : s.segments[k].train) {
      ++degree[x.item];
      seen[x.user].insert(x.item);
    }
  }
  std::vector<int32_t> order(items);
  for (int32_t i = 0; i < items; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return degree[a] > degree[b]; });
  std::map<int32_t, std::set<int32_t>> test;
  for (const auto& x : s.segments[t].test) test[x.user].insert(x.item);
  double sum = 0;
  for (const auto& [u, wanted] : test) {
    int taken = 0, hits = 0;
    for (int32_t i : order) {
      if (seen[u].count(i)) continue;
      if (taken++ == 20) break;
      hits += wanted.count(i);
    }
    sum += static_cast<double>(hits) / static_cast<double>(wanted.size());
  }
  return test.empty() ? 0 : sum / static_cast<double>(test.size());
}

// Expected Recall@20 of a uniformly random ranking of segment t's candidates (all items known after t minus the
// user's training items of segments 0..t): each of the user's test items is in the top 20 with probability
// 20 / candidates.
double ChanceRecall(const ev::SegmentedStream& s, size_t t) {
  const int32_t items = s.segments[t].num_items;
  std::map<int32_t, std::set<int32_t>> seen;
  for (size_t k = 0; k <= t; ++k)
    for (const auto& x : s.segments[k].train) seen[x.user].insert(x.item);
  std::map<int32_t, std::set<int32_t>> test;
  for (const auto& x : s.segments[t].test) test[x.user].insert(x.item);
  double sum = 0;
  for (const auto& [u, wanted] : test) {
    const double candidates = static_cast<double>(items - static_cast<int32_t>(seen[u].size()));
    int reachable = 0;  // a test item that is also a training item is excluded, never ranked
    for (int32_t i : wanted) reachable += seen[u].count(i) == 0;
    sum += std::min(1.0, 20.0 / candidates) * reachable / static_cast<double>(wanted.size());
  }
  return test.empty() ? 0 : sum / static_cast<double>(test.size());
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A 4-segment synthetic Foursquare stream (5-core, monthly), small enough for every strategy in one test.
ev::SegmentedStream TinyFoursquare(const gpt4rec::testing::TempDir& dir) {
  ev::SynthOptions so;
  so.profile = "foursquare";
  so.scale = 0.005;
  so.out = dir / "checkins.txt";
  REQUIRE(ev::WriteSynthetic(so).ok());
  ev::LoadOptions lo;
  lo.format = ev::Format::kFoursquare;
  lo.inputs = {so.out};
  auto raw = ev::LoadStream(lo);
  REQUIRE(raw.ok());
  ev::PreprocessOptions po;
  po.user_core = 5;
  po.item_core = 5;
  po.unit = ev::TimeUnit::kMonth;
  po.max_segments = 4;
  auto stream = ev::Preprocess(*raw, po);
  REQUIRE(stream.ok());
  REQUIRE(stream->segments.size() == 4);
  return *stream;
}

ev::ReplayOptions SmallReplay(std::vector<md::Strategy> strategies) {
  ev::ReplayOptions ro;
  ro.strategies = std::move(strategies);
  ro.model.dim = 16;
  ro.model.views = 2;
  ro.model.max_epochs = 3;
  ro.model.min_epochs = 1;
  ro.model.patience = 1;
  ro.model.threads = 2;
  ro.eval_batch_users = 64;
  return ro;
}

}  // namespace

TEST_CASE("replay on a tiny synthetic foursquare stream") {
  gpt4rec::testing::TempDir dir;
  auto stream = std::make_unique<ev::SegmentedStream>(TinyFoursquare(dir));
  ev::ReplayOptions ro = SmallReplay({md::Strategy::kPop, md::Strategy::kStatic, md::Strategy::kGpt4Rec});
  auto result = ev::RunReplay(*stream, ro);
  REQUIRE(result.ok());
  REQUIRE(result->strategies == std::vector<std::string>{"pop", "static", "gpt4rec"});
  for (size_t k = 0; k < 3; ++k) {
    REQUIRE(result->per_strategy[k].size() == 4);
    for (size_t t = 0; t < 4; ++t) {
      const auto& m = result->per_strategy[k][t].test;
      CHECK(m.users > 0);
      for (double v : {m.recall20, m.ndcg20, m.ndcg20_degc}) {
        CHECK(v >= 0.0);
        CHECK(v <= 1.0);
      }
      CHECK(m.ndcg20_degc >= m.ndcg20 - 1e-9);  // DEGC's ideal DCG is never larger than the standard one
    }
  }
  for (size_t t = 0; t < 4; ++t) {
    CHECK(result->per_strategy[0][t].test.recall20 == Approx(HandPopRecall(*stream, t)).margin(1e-12));
    CHECK(result->per_strategy[0][t].epochs == 0);
  }
  CHECK(result->per_strategy[1][0].epochs > 0);  // static trains segment 0 ...
  for (size_t t = 1; t < 4; ++t) {
    CHECK(result->per_strategy[1][t].epochs == 0);  // ... and never again
    CHECK(result->per_strategy[2][t].mode == "prompt_tuning");
    CHECK(result->per_strategy[2][t].epochs > 0);
  }
  // The learned model beats chance: a random ranking's expected recall over the same segments (t >= 1, as the
  // summary averages), by a clear factor (on this stream: 0.22 against 0.12).
  double chance = 0;
  for (size_t t = 1; t < 4; ++t) chance += ChanceRecall(*stream, t) / 3;
  INFO("gpt4rec recall20_avg " << result->summary[2].recall20_avg << ", chance " << chance);
  CHECK(chance > 0);
  CHECK(result->summary[2].recall20_avg > 1.5 * chance);

  ev::ReportInfo info;
  info.dataset = "synthetic-foursquare";
  info.config_json = R"({"k": 1})";
  REQUIRE(ev::WriteResultsJson(dir / "results.json", info, *stream, *result).ok());
  REQUIRE(ev::WriteResultsCsv(dir / "results.csv", *stream, *result).ok());
  REQUIRE(ev::WriteRecallSvg(dir / "recall20.svg", info, *stream, *result).ok());
  auto j = nlohmann::json::parse(Slurp(dir / "results.json"));
  CHECK(j["config"]["k"] == 1);
  CHECK(j["segments"].size() == 4);
  CHECK(j["segments"][2]["results"]["pop"]["recall20"].get<double>() == result->per_strategy[0][2].test.recall20);
  const ev::StrategySummary gs = ev::Summarise("gpt4rec", result->per_strategy[2]);
  CHECK(j["summary"]["gpt4rec"]["recall20_avg"].get<double>() ==
        Approx((result->per_strategy[2][1].test.recall20 + result->per_strategy[2][2].test.recall20 +
                result->per_strategy[2][3].test.recall20) / 3));
  CHECK(gs.recall20_avg == Approx(j["summary"]["gpt4rec"]["recall20_avg"].get<double>()));
  const std::string csv = Slurp(dir / "results.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 4 * 3);
  const std::string svg = Slurp(dir / "recall20.svg");
  size_t polylines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++polylines;
  CHECK(polylines == 3);
  auto line = nlohmann::json::parse(ev::SummaryJsonLine(info, *stream, *result));
  CHECK(line["segments"] == 4);
  CHECK(line["strategies"].size() == 3);
  CHECK(line["strategies"]["pop"].contains("ndcg20_degc_avg"));
  CHECK(ev::ResultsTable(*stream, *result).find("avg") != std::string::npos);
}

TEST_CASE("replay with every strategy, the continual-learning baselines included, reports each side by side") {
  gpt4rec::testing::TempDir dir;
  const ev::SegmentedStream stream = TinyFoursquare(dir);
  const std::vector<md::Strategy> all = {md::Strategy::kPop,    md::Strategy::kStatic,
                                         md::Strategy::kFinetune, md::Strategy::kRetrain,
                                         md::Strategy::kGpt4Rec, md::Strategy::kLsp,
                                         md::Strategy::kReplayUniform, md::Strategy::kReplayInverseDegree};
  auto result = ev::RunReplay(stream, SmallReplay(all));
  REQUIRE(result.ok());
  const std::vector<std::string> names = {"pop", "static", "finetune", "retrain", "gpt4rec",
                                          "lsp", "replay_uniform", "replay_inverse_degree"};
  REQUIRE(result->strategies == names);
  double chance = 0;
  for (size_t t = 1; t < 4; ++t) chance += ChanceRecall(stream, t) / 3;
  const std::map<std::string, std::string> mode = {{"finetune", "finetune"}, {"retrain", "retrain"},
                                                   {"gpt4rec", "prompt_tuning"}, {"lsp", "lsp"},
                                                   {"replay_uniform", "replay"}, {"replay_inverse_degree", "replay"}};
  const std::set<std::string> reads_old = {"retrain", "replay_uniform", "replay_inverse_degree"};
  for (size_t k = 0; k < names.size(); ++k) {
    INFO(names[k]);
    const auto& per = result->per_strategy[k];
    CHECK_FALSE(per[0].reads_old_data);  // nothing is old in segment 0
    for (size_t t = 1; t < 4; ++t) {
      if (mode.count(names[k])) {
        CHECK(per[t].mode == mode.at(names[k]));
        CHECK(per[t].epochs > 0);
      }
      CHECK(per[t].reads_old_data == (reads_old.count(names[k]) == 1));
      CHECK((per[t].replayed_edges > 0) == (per[t].mode == "replay"));
      CHECK(per[t].peak_rss_mib > 0);
      if (per[t].epochs > 0) CHECK(per[t].train_cpu_seconds > 0);
    }
    CHECK(result->summary[k].reads_old_data == (reads_old.count(names[k]) == 1));
    // Every strategy that trains at t >= 1 beats a random ranking by the first test's factor (on this stream
    // 0.187-0.309 against chance 0.119, so 1.5x = 0.178; Static, frozen after segment 0, is at 0.170).
    if (mode.count(names[k])) CHECK(result->summary[k].recall20_avg > 1.5 * chance);
  }
  // The three baselines train segment 0 as Finetune does (the same network and draws): identical test figures.
  for (size_t k : {5, 6, 7}) CHECK(result->per_strategy[k][0].test.recall20 == result->per_strategy[2][0].test.recall20);

  ev::ReportInfo info;
  info.dataset = "synthetic-foursquare";
  REQUIRE(ev::WriteResultsJson(dir / "results.json", info, stream, *result).ok());
  REQUIRE(ev::WriteResultsCsv(dir / "results.csv", stream, *result).ok());
  REQUIRE(ev::WriteRecallSvg(dir / "recall20.svg", info, stream, *result).ok());
  auto j = nlohmann::json::parse(Slurp(dir / "results.json"));
  for (const std::string& n : names) {
    INFO(n);
    CHECK(j["summary"][n]["reads_old_data"].get<bool>() == (reads_old.count(n) == 1));
    CHECK(j["summary"][n]["train_s_incremental_avg"].get<double>() >= 0);
    CHECK(j["segments"][1]["results"][n].contains("reads_old_data"));
  }
  CHECK(j["segments"][2]["results"]["replay_uniform"]["replayed_edges"].get<int64_t>() ==
        result->per_strategy[6][2].replayed_edges);
  // Paired differences: gpt4rec against each of the other seven, and each delta is exactly the difference of the
  // two t >= 1 averages (every strategy is scored on the same users of each segment).
  REQUIRE(result->paired.size() == 7);
  REQUIRE(j["paired"].size() == 7);
  for (const ev::PairedComparison& c : result->paired) {
    INFO(c.b);
    CHECK(c.a == "gpt4rec");
    const size_t b = static_cast<size_t>(std::find(names.begin(), names.end(), c.b) - names.begin());
    REQUIRE(b < names.size());
    CHECK(c.recall20.delta == Approx(result->summary[4].recall20_avg - result->summary[b].recall20_avg).margin(1e-6));
    CHECK(c.ndcg20.delta == Approx(result->summary[4].ndcg20_avg - result->summary[b].ndcg20_avg).margin(1e-6));
    int64_t users = 0;
    for (size_t t = 1; t < 4; ++t) users += result->per_strategy[4][t].test.users;
    CHECK(c.recall20.pairs == users);
  }
  REQUIRE(ev::WritePerUserCsv(dir / "per_user.csv", stream, *result).ok());
  const std::string per_user = Slurp(dir / "per_user.csv");
  int64_t rows = 0;
  for (size_t t = 0; t < 4; ++t) rows += 8 * result->per_strategy[0][t].test.users;
  CHECK(std::count(per_user.begin(), per_user.end(), '\n') == 1 + rows);
  const std::string csv = Slurp(dir / "results.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 4 * 8);
  CHECK(csv.find(",reads_old_data,replayed_edges,peak_rss_mib,train_cpu_seconds\n") != std::string::npos);
  const std::string svg = Slurp(dir / "recall20.svg");
  size_t polylines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++polylines;
  CHECK(polylines == 8);
  const std::string table = ev::ResultsTable(stream, *result);
  CHECK(table.find("replay_inverse_degree: ") != std::string::npos);
  CHECK(table.find("reads old data") != std::string::npos);
}
