// gpt4rec-bench quality: our plain backbone (the Finetune strategy on one segment) against RecBole's LightGCN on
// the same ml-100k file, the same protocol (10-core, one global random 80/10/10 split, full ranking with the
// user's train items excluded) and the same early stopping, in the same run. Takes minutes; not in `make test`.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench_registry.h"
#include "bench/json_command.h"
#include "eval/loaders.h"
#include "eval/preprocess.h"
#include "eval/replay_driver.h"
#include "model/config_flags.h"
#include "model/config_json.h"
#include "nlohmann/json.hpp"

namespace gpt4rec::bench {
namespace {

namespace fs = std::filesystem;

struct QualityFlags {
  std::string input = "../shared/data/ml-100k.inter";
  std::string peer = "../shared/peers/recbole/run.sh";
  std::vector<int> batches = {2048, 512};  // RecBole's batch and our default
  float peer_lr = 1e-2f;                   // RecBole's best rate on this data (shared/peers/README.md)
  int epochs = 50, patience = 10;          // the peer's schedule: 50 epochs, stop after 10 without improvement
  std::vector<uint64_t> seeds = {42};      // our split and model seeds (the peer keeps its own seed 2020)
  model::ModelConfig model;
};

int RunQualityBench(int argc, char** argv) {
  QualityFlags f;
  f.model.strategy = model::Strategy::kFinetune;
  f.model.lr = f.peer_lr;
  CLI::App app{"gpt4rec-bench quality: our backbone (finetune, one segment) vs RecBole's LightGCN on ml-100k, "
               "same protocol, same run. Last stdout line: one JSON object with both sides and the ratios."};
  app.name("gpt4rec-bench quality");
  app.add_option("--input", f.input, "the RecBole atomic file (ml-100k.inter)")->capture_default_str();
  app.add_option("--peer", f.peer, "RecBole's run.sh (skipped with a note when absent)")->capture_default_str();
  app.add_option("--batches", f.batches, "batch sizes to compare (both sides)")->capture_default_str();
  app.add_option("--peer_lr", f.peer_lr, "the peer's learning rate (ours: --lr)")->capture_default_str();
  app.add_option("--epochs", f.epochs, "max epochs (both sides)")->capture_default_str();
  app.add_option("--patience", f.patience, "stop after this many epochs without improvement (both sides)")
      ->capture_default_str();
  app.add_option("--seeds", f.seeds, "our split/model seeds; figures are their mean")->capture_default_str();
  model::AddModelConfigFlags(app, &f.model, {"strategy", "batch_size", "max_epochs", "patience", "min_epochs", "seed"});
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!fs::exists(f.input)) {
    std::fprintf(stderr, "quality: %s is absent (../shared/data/ml-100k.inter; run from the repository root)\n",
                 f.input.c_str());
    std::printf("{\"bench\":\"quality\",\"skipped\":\"input absent\"}\n");
    return 0;
  }
  eval::LoadOptions load;
  load.format = eval::Format::kRecbole;
  load.inputs = {f.input};
  auto raw = eval::LoadStream(load);
  if (!raw.ok()) {
    std::fprintf(stderr, "quality: %s\n", raw.status().ToString().c_str());
    return 1;
  }
  const bool peer_present = fs::exists(f.peer);
  if (!peer_present) std::fprintf(stderr, "quality: peer %s absent: our side only\n", f.peer.c_str());

  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (int batch : f.batches) {
    nlohmann::ordered_json run;
    run["batch"] = batch;
    double recall = 0, ndcg = 0, epoch_s = 0, best_epoch = 0, epochs = 0;
    for (uint64_t seed : f.seeds) {
      eval::PreprocessOptions prep;  // 10/10-core, one segment, 80/10/10
      prep.unit = eval::TimeUnit::kEqualCount;
      prep.equal_count_segments = 1;
      prep.seed = seed;
      auto stream = eval::Preprocess(*raw, prep);
      if (!stream.ok()) {
        std::fprintf(stderr, "quality: %s\n", stream.status().ToString().c_str());
        return 1;
      }
      eval::ReplayOptions ro;
      ro.strategies = {model::Strategy::kFinetune};
      ro.model = f.model;
      ro.model.batch_size = batch;
      ro.model.max_epochs = f.epochs;
      ro.model.patience = f.patience;
      ro.model.min_epochs = 1;
      ro.model.seed = seed;
      ro.progress = &std::cerr;
      auto result = eval::RunReplay(*stream, ro);
      if (!result.ok()) {
        std::fprintf(stderr, "quality: %s\n", result.status().ToString().c_str());
        return 1;
      }
      const eval::StrategySegment& s = result->per_strategy[0][0];
      const double n = static_cast<double>(f.seeds.size());
      recall += s.test.recall20 / n;
      ndcg += s.test.ndcg20 / n;
      epoch_s += s.train_epoch_seconds / n;
      best_epoch += s.best_epoch / n;
      epochs += s.epochs / n;
    }
    run["ours"] = {{"recall20", recall}, {"ndcg20", ndcg}, {"best_epoch", best_epoch}, {"epochs", epochs},
                   {"train_epoch_s", epoch_s}, {"seeds", f.seeds}};
    run["peer"] = nullptr;
    if (peer_present) {
      char cmd[1024];
      std::snprintf(cmd, sizeof(cmd), "LR=%g BATCH=%d EPOCHS=%d THREADS=%d DATA_FILE='%s' '%s'",
                    static_cast<double>(f.peer_lr), batch, f.epochs,
                    f.model.threads > 0 ? f.model.threads : static_cast<int>(std::thread::hardware_concurrency()),
                    fs::absolute(f.input).c_str(), f.peer.c_str());
      std::fprintf(stderr, "quality: peer: %s\n", cmd);
      nlohmann::json p = LastJsonLine(cmd);
      if (p.is_object() && p.contains("test_mask_train_only")) {
        const auto& m = p["test_mask_train_only"];
        const double pr = m.value("recall20", 0.0), pn = m.value("ndcg20", 0.0);
        const double pe = p.value("mean_train_epoch_s", 0.0);
        run["peer"] = {{"recall20", pr}, {"ndcg20", pn}, {"best_epoch", p["best_epoch"]}, {"epochs", p["epochs"]},
                       {"train_epoch_s", pe}, {"lr", p["lr"]}, {"threads", p["threads"]}};
        run["ratio_recall20"] = pr > 0 ? recall / pr : 0;
        run["ratio_ndcg20"] = pn > 0 ? ndcg / pn : 0;
        run["ratio_train_epoch_s"] = pe > 0 ? epoch_s / pe : 0;
      } else {
        std::fprintf(stderr, "quality: the peer failed or printed no JSON\n");
      }
    }
    std::fprintf(stderr, "quality: batch %d: %s\n", batch, run.dump().c_str());
    runs.push_back(run);
  }
  nlohmann::ordered_json out;
  out["bench"] = "quality";
  out["input"] = f.input;
  out["peer_present"] = peer_present;
  out["model"] = model::ModelConfigJson(f.model);
  out["runs"] = runs;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Registration reg("quality", "our backbone vs RecBole's LightGCN on ml-100k, same protocol (minutes; needs ../shared)",
                 &RunQualityBench);

}  // namespace
}  // namespace gpt4rec::bench
