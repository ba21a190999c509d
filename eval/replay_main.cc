// gpt4rec-replay: the streaming replay protocol (design page §5) for every strategy side by side, with a table on
// stdout, results.json / results.csv / per_user.csv / recall20.svg in --out, and one JSON summary object as the last stdout line.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "eval/replay.h"
#include "model/config_flags.h"
#include "model/config_json.h"
#include "util/malloc_reuse.h"

namespace ev = gpt4rec::eval;
namespace md = gpt4rec::model;

namespace {

int Fail(const std::string& what) {
  std::cerr << "gpt4rec-replay: " << what << "\n";
  return 1;
}

absl::StatusOr<int64_t> ParseDate(const std::string& text, const std::string& flag) {
  auto t = ev::ParseTime(text, "%Y-%m-%d");
  if (!t.ok()) return absl::InvalidArgumentError(flag + ": " + std::string(t.status().message()));
  return *t;
}

}  // namespace

int main(int argc, char** argv) {
  gpt4rec::util::KeepFreedMemoryForReuse();  // training steps reuse freed memory (util/malloc_reuse.h)
  CLI::App app{"Replays a timestamped interaction stream segment by segment (DEGC/GPT4Rec protocol: de-duplicate, "
               "k-core, calendar segments in UTC, 80/10/10 split per segment) and reports Recall@20, NDCG@20 and "
               "DEGC's NDCG@20 for every strategy."};
  std::string format_name, out_dir, strategies = "pop,static,finetune,retrain,gpt4rec", unit_name, from, to,
                                    dataset, behaviors, delimiter = ",";
  std::vector<std::string> inputs;
  ev::LoadOptions load;
  ev::PreprocessOptions prep;
  md::ModelConfig mc;
  int segments = 0, eval_batch = 512;

  app.add_option("--format", format_name, "taobao2014 | taobao2015 | netflix | foursquare | recbole | csv")->required();
  app.add_option("--input", inputs, "input file(s); netflix also takes a directory of mv_*.txt / combined_data_*.txt")
      ->required();
  app.add_option("--out", out_dir, "output directory for results.json, results.csv, per_user.csv, recall20.svg")->required();
  app.add_option("--dataset", dataset, "name shown in the reports (default: format and input file name)");
  app.add_option("--strategies", strategies,
                 "comma-separated: pop, static, finetune, retrain, gpt4rec, lsp, replay_uniform, "
                 "replay_inverse_degree")
      ->capture_default_str();
  // Loading.
  app.add_flag("--skip_bad_lines", load.skip_bad_lines, "skip and count malformed lines instead of failing");
  app.add_option("--min_rating", load.min_rating, "netflix/recbole/csv: drop interactions rated below this");
  app.add_option("--behaviors", behaviors, "taobao: comma-separated behavior_type / act_ID values to keep (default all)");
  app.add_option("--user_col", load.user_col, "recbole/csv: user column name")->capture_default_str();
  app.add_option("--item_col", load.item_col, "recbole/csv: item column name")->capture_default_str();
  app.add_option("--time_col", load.time_col, "recbole/csv: time column name")->capture_default_str();
  app.add_option("--rating_col", load.rating_col, "recbole/csv: rating column name (optional column)")
      ->capture_default_str();
  app.add_option("--delimiter", delimiter, "csv: field delimiter (one character; 'tab' for a tab)")
      ->capture_default_str();
  app.add_option("--time_format", load.time_format,
                 "csv/recbole: unix | unix_ms | pattern with %Y %m %d %H %M %S %b %a %z (UTC)")
      ->capture_default_str();
  // Preprocessing.
  auto* unit_opt = app.add_option("--unit", unit_name,
                                  "segment unit: hour | day | week | month (UTC calendar) (default per dataset: "
                                  "taobao day, netflix/foursquare/recbole/csv month)");
  app.add_option("--segments", segments, "N > 0: N equal-count segments instead of calendar ones");
  app.add_option("--max_segments", prep.max_segments, "keep only the first N segments (0 = all)");
  auto* ucore = app.add_option("--user_core", prep.user_core,
                               "k-core threshold for users (default per dataset: taobao2014 10, taobao2015 20, "
                               "netflix 30, foursquare 20, recbole/csv 10)");
  auto* icore = app.add_option("--item_core", prep.item_core, "k-core threshold for items (defaults as --user_core)");
  app.add_option("--from", from, "keep events on/after YYYY-MM-DD UTC (default: the dataset's range on the design page)");
  app.add_option("--to", to, "keep events before YYYY-MM-DD UTC");
  app.add_option("--train_fraction", prep.train_fraction, "per-segment train share")->capture_default_str();
  app.add_option("--valid_fraction", prep.valid_fraction, "per-segment validation share (test gets the rest)")
      ->capture_default_str();
  app.add_option("--seed", mc.seed, "seed of the split and the models")->capture_default_str();
  // Model: every ModelConfig field except the strategy (--strategies lists them) and the seed (above).
  md::AddModelConfigFlags(app, &mc, {"strategy", "seed"});
  app.add_option("--eval_batch", eval_batch, "users scored per batch at evaluation")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto format = ev::ParseFormat(format_name);
  if (!format.ok()) return Fail(std::string(format.status().message()));
  load.format = *format;
  load.inputs = inputs;
  if (delimiter == "tab") delimiter = "\t";
  if (delimiter.size() != 1) return Fail("delimiter: must be one character or 'tab'");
  load.delimiter = delimiter[0];
  if (!behaviors.empty()) {
    std::stringstream ss(behaviors);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      try {
        load.behaviors.push_back(std::stoi(tok));
      } catch (...) {
        return Fail("behaviors: '" + tok + "' is not an integer");
      }
    }
  }
  const ev::DatasetDefaults defaults = ev::DefaultsFor(*format);
  if (ucore->count() == 0) prep.user_core = defaults.user_core;
  if (icore->count() == 0) prep.item_core = defaults.item_core;
  prep.unit = defaults.unit;
  if (unit_opt->count() > 0) {
    auto u = ev::ParseTimeUnit(unit_name);
    if (!u.ok()) return Fail(std::string(u.status().message()));
    prep.unit = *u;
  }
  if (segments > 0) {
    prep.unit = ev::TimeUnit::kEqualCount;
    prep.equal_count_segments = segments;
  }
  prep.from_time = defaults.from_time;
  prep.to_time = defaults.to_time;
  if (!from.empty()) {
    auto t = ParseDate(from, "from");
    if (!t.ok()) return Fail(std::string(t.status().message()));
    prep.from_time = *t;
  }
  if (!to.empty()) {
    auto t = ParseDate(to, "to");
    if (!t.ok()) return Fail(std::string(t.status().message()));
    prep.to_time = *t;
  }
  prep.seed = mc.seed;

  ev::ReplayOptions ro;
  ro.model = mc;
  ro.eval_batch_users = eval_batch;
  ro.progress = &std::cerr;
  {
    std::stringstream ss(strategies);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      auto s = md::ParseStrategy(tok);
      if (!s.ok()) return Fail("strategies: " + std::string(s.status().message()));
      ro.strategies.push_back(*s);
    }
  }
  for (const std::string& in : inputs) {
    if (!std::filesystem::exists(in)) return Fail("input: '" + in + "' does not exist");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Fail("out: cannot create '" + out_dir + "': " + ec.message());

  std::cerr << "[replay] loading " << inputs.size() << " input(s) as " << format_name << "\n";
  auto raw = ev::LoadStream(load);
  if (!raw.ok()) return Fail(std::string(raw.status().message()));
  std::cerr << "[replay] " << raw->lines_read << " lines, " << raw->events.size() << " interactions, "
            << raw->user_names.size() << " users, " << raw->item_names.size() << " items";
  if (raw->bad_lines > 0) std::cerr << ", " << raw->bad_lines << " bad lines skipped (first: " << raw->bad_examples[0] << ")";
  if (raw->filtered > 0) std::cerr << ", " << raw->filtered << " filtered out";
  std::cerr << "\n";
  auto stream = ev::Preprocess(*raw, prep);
  if (!stream.ok()) return Fail(std::string(stream.status().message()));
  std::cerr << "[replay] after range " << stream->events_after_range << ", de-dup " << stream->events_after_dedup
            << ", " << prep.user_core << "/" << prep.item_core << "-core " << stream->events_after_kcore << " ("
            << stream->kcore_rounds << " rounds): " << stream->user_raw.size() << " users, "
            << stream->item_raw.size() << " items, " << stream->segments.size() << " segments by "
            << ev::TimeUnitName(prep.unit) << "\n";

  ev::ReportInfo info;
  info.dataset = dataset.empty() ? format_name + ":" + std::filesystem::path(inputs[0]).filename().string() : dataset;
  nlohmann::json config;
  config["format"] = format_name;
  config["inputs"] = inputs;
  config["strategies"] = strategies;
  config["unit"] = ev::TimeUnitName(prep.unit);
  config["segments"] = stream->segments.size();
  config["max_segments"] = prep.max_segments;
  config["user_core"] = prep.user_core;
  config["item_core"] = prep.item_core;
  config["train_fraction"] = prep.train_fraction;
  config["valid_fraction"] = prep.valid_fraction;
  config["seed"] = mc.seed;
  config["skip_bad_lines"] = load.skip_bad_lines;
  config["bad_lines"] = raw->bad_lines;
  config["model"] = md::ModelConfigJson(mc);
  config["model"].erase("strategy");  // one config runs every strategy in --strategies
  config["model"].erase("seed");      // reported above
  info.config_json = config.dump();

  auto result = ev::RunReplay(*stream, ro);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  const std::string dir = out_dir + "/";
  for (const absl::Status& s : {ev::WriteResultsJson(dir + "results.json", info, *stream, *result),
                                ev::WriteResultsCsv(dir + "results.csv", *stream, *result),
                                ev::WritePerUserCsv(dir + "per_user.csv", *stream, *result),
                                ev::WriteRecallSvg(dir + "recall20.svg", info, *stream, *result)}) {
    if (!s.ok()) return Fail(std::string(s.message()));
  }
  std::cout << ev::ResultsTable(*stream, *result);
  std::cout << "(R@20 = Recall@20, N@20 = NDCG@20 standard, N@20d = NDCG@20 DEGC variant; reports in " << out_dir
            << ")\n";
  std::cout << ev::SummaryJsonLine(info, *stream, *result) << std::endl;
  return 0;
}
