// gpt4rec-bench train [--users --items --edges --dim --views ...]: what training GPT4Rec costs on this machine.
// A synthetic power-law graph is cut into a base (95% of edges) and one segment (5%, carrying all edges of the
// newest users/items). Measured in one run: a full-graph training epoch, a whole prompt-tuning update on the
// segment, retraining the same model from scratch on the accumulated graph for the same number of epochs (the
// peer this update must beat by >= 10x), the refresh of the serving embeddings, Â·X with each sparse backend, and
// the same epoch in PyTorch Python (bench/pytorch_reference.py) as the peer for the full epoch.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_registry.h"
#include "model/recommender_model.h"
#include "model/test_support.h"
#include "bench/json_command.h"
#include "model/config_flags.h"
#include "model/config_json.h"
#include "nlohmann/json.hpp"

namespace gpt4rec::bench {
namespace {

using model::Graph;
using model::Interaction;
using Clock = std::chrono::steady_clock;

struct TrainFlags {
  int64_t users = 100000, items = 20000, edges = 2000000;
  int epochs = 3;          // epochs of the prompt-tuning update (fixed: no early stopping in the benchmark)
  int full_epochs = 1;     // full-graph epochs timed for full_epoch_s
  int retrain_epochs = 1;  // retrain epochs actually run; retrain_s scales them to `epochs`
  double new_share = 0.05;
  int pytorch_steps = 2;   // steps of the PyTorch Python peer (0 = skip it)
  model::ModelConfig model;  // --dim, --views, ... (every ModelConfig field); batch 65536 by default here
};

// false: print the error (or --help) and exit with `*exit_code`.
bool ParseFlags(int argc, char** argv, TrainFlags* f, int* exit_code) {
  CLI::App app{"gpt4rec-bench train: GPT4Rec training cost on a synthetic power-law graph. Last stdout line: one "
               "JSON object with full_epoch_s, prompt_epoch_s, segment_update_s, retrain_s, refresh_s, peak_rss_mb, "
               "the update/retrain ratio, the sparse backend timings and the configuration."};
  app.name("gpt4rec-bench train");
  f->model.strategy = model::Strategy::kGpt4Rec;
  f->model.batch_size = 65536;  // a full-graph epoch at 2M edges stays ~1 minute
  f->model.min_epochs = 0;      // fixed epoch counts, no early stopping
  app.add_option("--users", f->users, "users")->capture_default_str();
  app.add_option("--items", f->items, "items")->capture_default_str();
  app.add_option("--edges", f->edges, "distinct user-item edges")->capture_default_str();
  app.add_option("--epochs", f->epochs, "epochs of the prompt-tuning update; retrain_s is for the same count")
      ->capture_default_str();
  app.add_option("--full_epochs", f->full_epochs, "full-graph epochs timed for full_epoch_s")->capture_default_str();
  app.add_option("--retrain_epochs", f->retrain_epochs,
                 "retrain epochs actually run; retrain_s = setup + epochs x their mean")
      ->capture_default_str();
  app.add_option("--new_share", f->new_share, "share of edges in the new segment")->capture_default_str();
  app.add_option("--pytorch_steps", f->pytorch_steps,
                 "steps of the same epoch in PyTorch Python (bench/pytorch_reference.py on /usr/bin/python3, base "
                 "graph's sizes), scaled to a full epoch; 0 skips")
      ->capture_default_str();
  model::AddModelConfigFlags(app, &f->model, {"strategy", "max_epochs"});
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  if (f->users < 2 || f->items < 2 || f->edges < 10 || f->edges > f->users * f->items / 2) {
    std::fprintf(stderr, "train: need users, items >= 2 and 10 <= edges <= users*items/2\n");
    *exit_code = 2;
    return false;
  }
  if (f->epochs < 1 || f->full_epochs < 1 || f->retrain_epochs < 1 || !(f->new_share > 0 && f->new_share < 1)) {
    std::fprintf(stderr, "train: epochs must be >= 1 and new_share in (0, 1)\n");
    *exit_code = 2;
    return false;
  }
  return true;
}

// Distinct edges, users uniform, items with a power-law popularity (squared uniform over a random order).
std::vector<Interaction> MakeEdges(const TrainFlags& f) {
  std::mt19937_64 rng(f.model.seed);
  std::vector<std::vector<int32_t>> rows(f.users);
  std::uniform_real_distribution<double> unit(0, 1);
  int64_t made = 0;
  while (made < f.edges) {
    const int64_t batch = f.edges - made;
    for (int64_t k = 0; k < batch; ++k) {
      const double r = unit(rng);
      rows[rng() % f.users].push_back(static_cast<int32_t>(r * r * r * f.items));
    }
    made = 0;
    for (auto& r : rows) {
      std::sort(r.begin(), r.end());
      r.erase(std::unique(r.begin(), r.end()), r.end());
      made += static_cast<int64_t>(r.size());
    }
  }
  std::vector<Interaction> edges;
  edges.reserve(made);
  for (int64_t u = 0; u < f.users; ++u)
    for (int32_t i : rows[u]) edges.push_back({static_cast<int32_t>(u), i});
  std::shuffle(edges.begin(), edges.end(), rng);
  edges.resize(f.edges);
  return edges;
}

// Edges from index `new_from` on are the new segment's (age 0) and the rest one segment old, so the recency
// prompt does its real work; new_from < 0: no ages (segment 0).
Graph ToCsr(const std::vector<Interaction>& edges, int32_t users, int32_t items, int64_t new_from = -1) {
  Graph g;
  g.num_users = users;
  g.num_items = items;
  g.indptr.assign(users + 1, 0);
  for (const auto& e : edges) ++g.indptr[e.user + 1];
  for (int32_t u = 0; u < users; ++u) g.indptr[u + 1] += g.indptr[u];
  g.indices.resize(edges.size());
  if (new_from >= 0) g.edge_age.resize(edges.size());
  std::vector<int64_t> fill(g.indptr.begin(), g.indptr.end() - 1);
  for (size_t k = 0; k < edges.size(); ++k) {
    const int64_t at = fill[edges[k].user]++;
    g.indices[at] = edges[k].item;
    if (new_from >= 0) g.edge_age[at] = static_cast<int64_t>(k) < new_from ? 1 : 0;
  }
  return g;
}

double MeanTrainSeconds(const model::TrainReport& r) {
  double s = 0;
  for (const auto& e : r.log) s += e.train_seconds;
  return r.log.empty() ? 0 : s / r.log.size();
}

// Runs bench/pytorch_reference.py (next to this source file) and returns its last stdout line parsed, or null
// when python3-torch is missing or the run failed.
nlohmann::json RunPytorchPeer(const TrainFlags& f, int64_t users, int64_t items, int64_t edges, int threads) {
  std::string script = __FILE__;
  script = script.substr(0, script.find_last_of('/') + 1) + "pytorch_reference.py";
  char cmd[1024];
  std::snprintf(cmd, sizeof(cmd),
                "/usr/bin/python3 '%s' --users %lld --items %lld --edges %lld --dim %d --views %d --layers %d "
                "--batch %d --negatives %d --threads %d --max-steps %d --seed %llu",
                script.c_str(), static_cast<long long>(users), static_cast<long long>(items),
                static_cast<long long>(edges), f.model.dim, f.model.views, f.model.layers, f.model.batch_size, f.model.negatives, threads,
                f.pytorch_steps, static_cast<unsigned long long>(f.model.seed));
  std::fprintf(stderr, "  peer: %s\n", cmd);
  return LastJsonLine(cmd);
}

// CPU seconds of this process (user + system): on a shared machine the wall times above depend on the load,
// these do not (much).
double CpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

double PeakRssMb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

int RunTrainBench(int argc, char** argv) {
  TrainFlags f;
  int exit_code = 0;
  if (!ParseFlags(argc, argv, &f, &exit_code)) return exit_code;
  const int threads =
      f.model.threads > 0 ? f.model.threads : static_cast<int>(std::thread::hardware_concurrency());

  // Base graph and segment: the newest 2% of users and items only appear in the segment.
  auto edges = MakeEdges(f);
  const int32_t base_users = static_cast<int32_t>(f.users * 0.98), base_items = static_cast<int32_t>(f.items * 0.98);
  const int64_t want_new = static_cast<int64_t>(f.edges * f.new_share);
  std::vector<Interaction> base, segment;
  for (const auto& e : edges) {
    const bool forced = e.user >= base_users || e.item >= base_items;
    (forced ? segment : base).push_back(e);
  }
  // Top the segment up to its share with random old edges (edges are already shuffled).
  while (static_cast<int64_t>(segment.size()) < want_new && !base.empty()) {
    segment.push_back(base.back());
    base.pop_back();
  }
  const Graph g0 = ToCsr(base, base_users, base_items);
  std::vector<Interaction> all = base;
  all.insert(all.end(), segment.begin(), segment.end());
  const Graph g1 = ToCsr(all, static_cast<int32_t>(f.users), static_cast<int32_t>(f.items),
                         static_cast<int64_t>(base.size()));
  std::fprintf(stderr, "train bench: base %zu edges (%d users, %d items), segment %zu edges, %d threads\n",
               base.size(), base_users, base_items, segment.size(), threads);

  model::ModelConfig c = f.model;
  auto progress = [](const char* what) {
    return [what](const model::EpochLog& e) {
      std::fprintf(stderr, "  %s epoch %d: loss %.4f, %.2fs\n", what, e.epoch, e.loss, e.train_seconds);
    };
  };

  // 1. Segment 0 from scratch: the full-graph epoch.
  c.max_epochs = f.full_epochs;
  auto m = model::RecommenderModel::Create(c);
  if (!m.ok()) {
    std::fprintf(stderr, "train: %s\n", m.status().ToString().c_str());
    return 1;
  }
  model::SegmentInput in0{&g0, base, {}};
  const double cpu0 = CpuSeconds();
  double first_epoch_cpu_s = 0;  // from the start of Update to the end of epoch 1 (graph preparation included)
  auto full_progress = progress("full");
  auto r0 = (*m)->Update(in0, [&](const model::EpochLog& e) {
    if (e.epoch == 1) first_epoch_cpu_s = CpuSeconds() - cpu0;
    full_progress(e);
  });
  if (!r0.ok()) {
    std::fprintf(stderr, "train: %s\n", r0.status().ToString().c_str());
    return 1;
  }
  const double full_epoch_s = MeanTrainSeconds(*r0);
  const double segment0_cpu_s = CpuSeconds() - cpu0;

  // 2. The prompt-tuning update on the 5% segment: everything Update does (graph prep, 2-hop init, epochs,
  //    final embeddings), for a fixed number of epochs.
  if (auto st = model::SetEpochs(**m, f.epochs, 0); !st.ok()) {
    std::fprintf(stderr, "train: %s\n", st.ToString().c_str());
    return 1;
  }
  model::SegmentInput in1{&g1, segment, {}};
  const double cpu1 = CpuSeconds();
  auto r1 = (*m)->Update(in1, progress("prompt"));
  if (!r1.ok()) {
    std::fprintf(stderr, "train: %s\n", r1.status().ToString().c_str());
    return 1;
  }
  const double segment_update_s = r1->seconds;
  const double segment_update_cpu_s = CpuSeconds() - cpu1;
  const double prompt_epoch_s = MeanTrainSeconds(*r1);

  // 3. Refresh of the serving embeddings.
  auto t_refresh = Clock::now();
  auto recompute = model::RecomputeEmbeddings(**m);
  auto exported = (*m)->ExportEmbeddings();
  const double refresh_s = std::chrono::duration<double>(Clock::now() - t_refresh).count();
  if (!recompute.ok() || !exported.ok()) {
    std::fprintf(stderr, "train: refresh failed\n");
    return 1;
  }

  // 4. Retrain: the same GPT4Rec model from scratch on the accumulated graph, BPR positives = all its edges.
  model::ModelConfig rc = c;
  rc.max_epochs = f.retrain_epochs;
  auto rm = model::RecommenderModel::Create(rc);
  model::SegmentInput in_all{&g1, all, {}};
  const double cpu2 = CpuSeconds();
  auto rr = (*rm)->Update(in_all, progress("retrain"));
  if (!rr.ok()) {
    std::fprintf(stderr, "train: %s\n", rr.status().ToString().c_str());
    return 1;
  }
  const double retrain_epoch_s = MeanTrainSeconds(*rr);
  const double retrain_run_cpu_s = CpuSeconds() - cpu2;
  const double retrain_setup_s = rr->seconds - retrain_epoch_s * rr->epochs;
  const double retrain_s = retrain_setup_s + retrain_epoch_s * f.epochs;

  // 5. Â·X with each sparse backend on the accumulated graph.
  auto spmm = model::MeasureSpmmBackends(g1, f.model.dim, 5, f.model.threads);
  nlohmann::json backends = nlohmann::json::object();
  for (const auto& t : spmm) {
    backends[t.backend] = t.seconds;
    std::fprintf(stderr, "  spmm %-22s %.4fs (max |diff| %.2g)\n", t.backend.c_str(), t.seconds, t.max_abs_diff);
  }

  // 6. The peer: the same model and epoch in PyTorch Python, on the base graph's sizes.
  nlohmann::json peer = nullptr;
  if (f.pytorch_steps > 0) peer = RunPytorchPeer(f, base_users, base_items, static_cast<int64_t>(base.size()), threads);
  if (peer.is_null() && f.pytorch_steps > 0)
    std::fprintf(stderr, "  peer: PyTorch Python reference unavailable (is python3-torch installed?)\n");

  nlohmann::ordered_json out;
  out["bench"] = "train";
  out["edges"] = static_cast<int64_t>(all.size());
  out["full_epoch_s"] = full_epoch_s;
  out["full_epoch_edges"] = static_cast<int64_t>(base.size());
  out["full_epoch_cpu_s"] = first_epoch_cpu_s;
  out["prompt_epoch_s"] = prompt_epoch_s;
  out["segment_update_s"] = segment_update_s;
  out["retrain_s"] = retrain_s;
  out["refresh_s"] = refresh_s;
  out["peak_rss_mb"] = PeakRssMb();
  out["retrain_over_update"] = segment_update_s > 0 ? retrain_s / segment_update_s : 0;
  out["retrain_epochs_run"] = f.retrain_epochs;
  out["segment0_cpu_s"] = segment0_cpu_s;            // full_epochs epochs + setup, CPU seconds
  out["segment_update_cpu_s"] = segment_update_cpu_s;
  out["retrain_run_cpu_s"] = retrain_run_cpu_s;      // retrain_epochs_run epochs + setup, CPU seconds
  out["retrain_epoch_s"] = retrain_epoch_s;
  out["segment_edges"] = static_cast<int64_t>(segment.size());
  out["users"] = f.users;
  out["items"] = f.items;
  out["threads_used"] = threads;
  out["epochs"] = f.epochs;
  out["model"] = model::ModelConfigJson(c);
  out["spmm_s"] = backends;
  if (!peer.is_null() && peer.contains("full_epoch_s")) {
    const double py = peer["full_epoch_s"].get<double>();
    out["pytorch_full_epoch_s"] = py;
    out["pytorch_steps_run"] = peer.value("steps_run", 0);
    out["pytorch_epoch_cpu_s"] = peer.value("epoch_cpu_s", 0.0);
    out["speedup_vs_pytorch"] = full_epoch_s > 0 ? py / full_epoch_s : 0;
    // CPU seconds do not depend on what else the machine is running; wall seconds do.
    out["cpu_speedup_vs_pytorch"] =
        first_epoch_cpu_s > 0 ? peer.value("epoch_cpu_s", 0.0) / first_epoch_cpu_s : 0;
  } else {
    out["pytorch_full_epoch_s"] = nullptr;
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Registration reg("train", "GPT4Rec full epoch, prompt-tuning update vs retrain, refresh (synthetic graph)",
                 &RunTrainBench);

}  // namespace
}  // namespace gpt4rec::bench
