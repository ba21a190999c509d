// RecommenderModel end to end on small synthetic streams: shapes, frozen parameters under prompt tuning,
// baselines, checkpoints, determinism, input errors. Internals are read back through the checkpoint format.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <fstream>

#include "absl/strings/str_split.h"
#include "model/test_support.h"
#include "model/recommender_model.h"
#include "tests/common/temp_dir.h"
#include "tests/model/synthetic_stream.h"

namespace gpt4rec::model {
namespace {

using gpt4rec::testing::AccumulatedGraph;
using gpt4rec::testing::MakeDriftingStream;
using gpt4rec::testing::StreamSegment;
using gpt4rec::testing::StreamSpec;
using gpt4rec::testing::TempDir;

ModelConfig SmallConfig(Strategy s) {
  ModelConfig c;
  c.strategy = s;
  c.dim = 16;
  c.views = 4;
  c.node_prompts = 4;
  c.structure_prompts = 2;
  c.lr = 0.01f;
  c.prompt_lr = 0.01f;
  c.batch_size = 256;
  c.max_epochs = 3;
  c.min_epochs = 1;
  c.patience = 1;
  c.threads = 2;
  c.seed = 3;
  return c;
}

StreamSpec SmallSpec() {
  StreamSpec s;
  s.segments = 2;
  s.users0 = 120;
  s.new_users_per_segment = 20;
  s.items0 = 80;
  s.new_items_per_segment = 10;
  s.interactions_per_user = 6;
  return s;
}

std::vector<StreamSegment> SmallStream() { return MakeDriftingStream(SmallSpec()); }

struct Stepper {
  std::vector<StreamSegment> stream = SmallStream();
  std::vector<Graph> graphs;
  Stepper() {
    for (size_t t = 0; t < stream.size(); ++t) graphs.push_back(AccumulatedGraph(stream, static_cast<int>(t)));
  }
  TrainReport Run(RecommenderModel& m, int t) {
    SegmentInput in;
    in.graph = &graphs[t];
    in.train = stream[t].train;
    in.valid = stream[t].valid;
    auto r = m.Update(in, nullptr);
    REQUIRE(r.ok());
    return *r;
  }
};

CheckpointContents Snapshot(const RecommenderModel& m, const TempDir& dir, const std::string& name) {
  REQUIRE(m.Save(dir / name).ok());
  auto c = ReadCheckpointFile(dir / name);
  REQUIRE(c.ok());
  return *c;
}

std::vector<float> Floats(const ArrayBlob& b) {
  std::vector<float> v(b.bytes.size() / 4);
  std::memcpy(v.data(), b.bytes.data(), b.bytes.size());
  return v;
}

TEST_CASE("config and strategy names are validated", "[model]") {
  REQUIRE(ParseStrategy("gpt4rec").value() == Strategy::kGpt4Rec);
  REQUIRE(StrategyName(Strategy::kFinetune) == "finetune");
  REQUIRE(ParseStrategy("bogus").status().code() == absl::StatusCode::kInvalidArgument);
  ModelConfig c;
  c.views = 3;  // does not divide 64
  auto m = RecommenderModel::Create(c);
  REQUIRE(m.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(m.status().message()).find("views") != std::string::npos);
}

TEST_CASE("bad segment input is refused without changing the model", "[model]") {
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  Stepper s;
  SegmentInput in;
  REQUIRE(m->Update(in, nullptr).status().code() == absl::StatusCode::kInvalidArgument);
  in.graph = &s.graphs[0];
  in.train = {{0, 1}, {5, s.graphs[0].num_items}};
  auto st = m->Update(in, nullptr).status();
  REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(std::string(st.message()).find("train[1].item") != std::string::npos);
  REQUIRE(m->segments_seen() == 0);
  std::vector<float> out;
  REQUIRE(m->Score({0}, &out).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("forward gives finite representations of the right shape", "[model]") {
  for (auto strategy : {Strategy::kGpt4Rec, Strategy::kFinetune, Strategy::kPop}) {
    auto m = RecommenderModel::Create(SmallConfig(strategy)).value();
    Stepper s;
    auto report = s.Run(*m, 0);
    auto e = m->ExportEmbeddings().value();
    REQUIRE(e.num_users == s.graphs[0].num_users);
    REQUIRE(e.num_items == s.graphs[0].num_items);
    REQUIRE(e.dim == (strategy == Strategy::kPop ? 1 : 16));
    REQUIRE(e.users.size() == static_cast<size_t>(e.num_users) * e.dim);
    for (float v : e.users) REQUIRE(std::isfinite(v));
    for (float v : e.items) REQUIRE(std::isfinite(v));
    if (strategy != Strategy::kPop) {
      REQUIRE(report.mode == TrainMode::kTrain);
      REQUIRE(report.epochs >= 1);
      REQUIRE(std::isfinite(report.final_loss));
      REQUIRE(report.final_loss < std::log(2.0) + 1e-3);  // below an untrained BPR loss
    }
    // Scores are z_u · z_i, and an unknown user gets a row too.
    std::vector<float> scores;
    REQUIRE(m->Score({3, 1 << 20}, &scores).ok());
    REQUIRE(scores.size() == 2u * e.num_items);
    double dot = 0;
    for (int k = 0; k < e.dim; ++k) dot += e.users[3 * e.dim + k] * e.items[5 * e.dim + k];
    REQUIRE(scores[5] == Approx(dot).margin(1e-5));
  }
}

TEST_CASE("pop scores items by their degree in the accumulated graph", "[model]") {
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kPop)).value();
  Stepper s;
  s.Run(*m, 0);
  auto r = s.Run(*m, 1);
  REQUIRE(r.mode == TrainMode::kNone);
  std::vector<int> degree(s.graphs[1].num_items, 0);
  for (int32_t i : s.graphs[1].indices) ++degree[i];
  std::vector<float> scores;
  REQUIRE(m->Score({0}, &scores).ok());
  for (int32_t i = 0; i < s.graphs[1].num_items; ++i) REQUIRE(scores[i] == static_cast<float>(degree[i]));
}

TEST_CASE("prompt tuning leaves backbone and old embeddings bitwise unchanged and moves the prompts", "[model]") {
  TempDir dir("model-freeze");
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.old_embedding_lr = 0;  // the paper's strict form
  config.view_projection = true;  // so that there is a backbone besides E to keep frozen
  config.recency_prompt = config.layer_prompt = true;  // the temporal prompts train in prompt tuning too
  config.row_phase_prompts = true;  // one phase: every prompt trains beside the new rows
  config.prompt_phase_epochs = 0;
  // Several steps per epoch: P starts at zero, so the node prompt's scoring layer a_k has no gradient in the
  // first step, and the kept epoch may be the first.
  config.batch_size = 64;
  auto m = RecommenderModel::Create(config).value();
  Stepper s;
  s.Run(*m, 0);
  auto before = Snapshot(*m, dir, "seg0.ckpt");
  // The temporal prompts do not train in segment 0: they are still the identity (all zeros).
  for (const char* prompt : {"recency_tau", "layer_w"}) {
    INFO(prompt);
    for (float v : Floats(before.arrays.at(prompt))) REQUIRE(v == 0.0f);
  }
  auto report = s.Run(*m, 1);
  REQUIRE(report.mode == TrainMode::kPromptTuning);
  INFO("kept epoch " << report.best_epoch << " of " << report.epochs);
  auto after = Snapshot(*m, dir, "seg1.ckpt");

  REQUIRE(after.arrays.at("view_W").bytes == before.arrays.at("view_W").bytes);
  REQUIRE(after.arrays.at("view_c").bytes == before.arrays.at("view_c").bytes);
  for (const char* table : {"user_emb", "item_emb"}) {
    const auto& old_rows = before.arrays.at(table);
    const auto& new_rows = after.arrays.at(table);
    REQUIRE(new_rows.shape[0] > old_rows.shape[0]);  // the segment brought new nodes
    REQUIRE(new_rows.bytes.compare(0, old_rows.bytes.size(), old_rows.bytes) == 0);
  }
  for (const char* prompt : {"node_P", "node_A", "struct_S", "struct_Gu", "view_v", "recency_tau", "layer_w"}) {
    INFO(prompt);
    REQUIRE(after.arrays.at(prompt).bytes != before.arrays.at(prompt).bytes);
  }
}

// The two phases of prompt tuning, read back from checkpoints: the same model with and without a prompt phase.
TEST_CASE("the prompt phase trains only the node, structure and view prompts, on the row phase's model", "[model]") {
  TempDir dir("model-phases");
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.row_phase_prompts = false;
  config.batch_size = 64;
  auto run = [&](int prompt_epochs, float prompt_lr, bool with_valid, const std::string& name) {
    ModelConfig c = config;
    c.prompt_phase_epochs = prompt_epochs;
    c.prompt_phase_lr = prompt_lr;
    auto m = RecommenderModel::Create(c).value();
    Stepper s;
    if (!with_valid) {  // every epoch runs and the last is kept
      for (auto& seg : s.stream) seg.valid.clear();
    }
    s.Run(*m, 0);
    auto report = s.Run(*m, 1);
    REQUIRE(report.mode == TrainMode::kPromptTuning);
    return std::make_pair(report, Snapshot(*m, dir, name));
  };
  const auto [rows_report, rows_only] = run(0, 1e-3f, false, "rows.ckpt");
  // Without them in the row phase, the paper's prompts are still their identity start.
  for (const char* prompt : {"node_P", "struct_S", "view_v"}) {
    INFO(prompt);
    for (float v : Floats(rows_only.arrays.at(prompt))) REQUIRE(v == 0.0f);
  }
  const auto [both_report, both] = run(2, 1e-3f, false, "both.ckpt");
  CHECK(both_report.epochs == rows_report.epochs + 2);  // the prompt phase's epochs count on
  for (const char* frozen : {"user_emb", "item_emb", "recency_tau", "view_W"}) {
    INFO(frozen);
    REQUIRE(both.arrays.at(frozen).bytes == rows_only.arrays.at(frozen).bytes);
  }
  for (const char* prompt : {"node_P", "node_A", "struct_S", "struct_Gu", "view_v"}) {
    INFO(prompt);
    REQUIRE(both.arrays.at(prompt).bytes != rows_only.arrays.at(prompt).bytes);
  }
  // With validation, a prompt phase that only hurts (a rate that swamps every representation) is discarded:
  // the kept model is the row phase's, bitwise.
  const auto [rows_v_report, rows_v] = run(0, 1e-3f, true, "rows-valid.ckpt");
  const auto [wild_report, wild] = run(2, 100.0f, true, "wild-valid.ckpt");
  REQUIRE(wild_report.epochs > rows_v_report.epochs);
  CHECK(wild_report.best_epoch == rows_v_report.best_epoch);
  for (const char* tensor : {"user_emb", "item_emb", "recency_tau", "node_P", "struct_S", "view_v"}) {
    INFO(tensor);
    REQUIRE(wild.arrays.at(tensor).bytes == rows_v.arrays.at(tensor).bytes);
  }
}

// GPT4Rec's recency weight of age 0 (2σ(τ) of bucket 0, mean over the views) after every segment of `stream`.
double Age0WeightAfter(const std::vector<StreamSegment>& stream, ModelConfig config, const TempDir& dir,
                       const std::string& name) {
  config.max_epochs = 8;
  config.min_epochs = 8;
  config.batch_size = 128;
  auto m = RecommenderModel::Create(config).value();
  for (size_t t = 0; t < stream.size(); ++t) {
    Graph g = AccumulatedGraph(stream, static_cast<int>(t));
    const SegmentInput in = SegmentInputOf(stream, static_cast<int>(t), g);
    REQUIRE(m->Update(in, nullptr).ok());
  }
  const auto tau = Floats(Snapshot(*m, dir, name).arrays.at("recency_tau"));
  double w = 0;
  for (int k = 0; k < config.views; ++k) w += 2.0 / (1.0 + std::exp(-tau[k])) / config.views;
  return w;
}

std::vector<StreamSegment> NoDriftStream() {
  StreamSpec spec = SmallSpec();
  spec.segments = 4;
  spec.drift = 0;
  return MakeDriftingStream(spec);
}

// Every BPR positive is an age-0 edge of the graph it is scored on. Propagating it lets the recency prompt lower
// the loss by weighing age-0 edges up, even on a stream where age tells nothing (no drift: each user's items come
// from one community throughout). With leave_out_positives the step's own positives are out of the graph, and the
// weight of age 0 has no such reason to grow. (Carried over whole, temporal_carry 1, so that it compounds.)
TEST_CASE("with the step's positives left out, the recency prompt does not learn to propagate them", "[model]") {
  TempDir dir("model-leave-out");
  const auto stream = NoDriftStream();
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.temporal_carry = 1;
  const double with_positives = Age0WeightAfter(stream, config, dir, "in.ckpt");
  config.leave_out_positives = true;
  const double left_out = Age0WeightAfter(stream, config, dir, "out.ckpt");
  std::fprintf(stderr, "recency weight of age 0: positives propagated %.3f, left out %.3f\n", with_positives,
               left_out);
  REQUIRE(with_positives > 1.2);
  REQUIRE(left_out < 1.0 + (with_positives - 1.0) / 2);
}

// temporal_carry: each incremental segment's prompt tuning starts the temporal prompts from their last logits
// times the carry. A segment without training edges shows the start exactly; on the no-drift stream the age-0
// bias that each segment's training adds then no longer compounds.
TEST_CASE("temporal_carry scales the temporal prompts at each segment's start and stops the age-0 bias compounding",
          "[model]") {
  TempDir dir("model-temporal-carry");
  const auto stream = NoDriftStream();
  for (const float carry : {1.0f, 0.5f, 0.0f}) {
    INFO("temporal_carry " << carry);
    ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
    config.temporal_carry = carry;
    config.max_epochs = 8;
    config.min_epochs = 8;
    config.batch_size = 128;
    auto m = RecommenderModel::Create(config).value();
    for (int t = 0; t < 3; ++t) {
      Graph g = AccumulatedGraph(stream, t);
      const SegmentInput in = SegmentInputOf(stream, t, g);
      REQUIRE(m->Update(in, nullptr).ok());
    }
    const auto before = Floats(Snapshot(*m, dir, "before.ckpt").arrays.at("recency_tau"));
    Graph g = AccumulatedGraph(stream, 3);
    SegmentInput empty;  // segment 3's graph, no training or validation edges: no epoch runs
    empty.graph = &g;
    REQUIRE(m->Update(empty, nullptr).ok());
    const auto after = Floats(Snapshot(*m, dir, "after.ckpt").arrays.at("recency_tau"));
    REQUIRE(after.size() == before.size());
    double moved = 0;
    for (size_t k = 0; k < before.size(); ++k) {
      moved += std::fabs(before[k]);
      REQUIRE(after[k] == before[k] * carry);  // exact: 1, 0.5 and 0 are exact factors
    }
    REQUIRE(moved > 0.1);  // the prompt had learned something to carry
  }
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.temporal_carry = 1;
  const double whole = Age0WeightAfter(stream, config, dir, "whole.ckpt");
  config.temporal_carry = 0;
  const double restarted = Age0WeightAfter(stream, config, dir, "restarted.ckpt");
  std::fprintf(stderr, "recency weight of age 0 after 4 segments: carried whole %.3f, restarted %.3f\n", whole,
               restarted);
  REQUIRE(restarted < 1.0 + (whole - 1.0) / 2);
}

// The model's tables after segment 0 and after segment 1's Update (with max_epochs 0: segment 1's start).
std::pair<CheckpointContents, CheckpointContents> RowsAroundSegment1(const ModelConfig& config,
                                                                     const std::vector<StreamSegment>& stream,
                                                                     const TempDir& dir) {
  auto m = RecommenderModel::Create(config).value();
  Graph g0 = AccumulatedGraph(stream, 0);
  REQUIRE(m->Update(SegmentInputOf(stream, 0, g0), nullptr).ok());
  auto before = Snapshot(*m, dir, "before.ckpt");
  Graph g1 = AccumulatedGraph(stream, 1);
  REQUIRE(m->Update(SegmentInputOf(stream, 1, g1), nullptr).ok());
  return {std::move(before), Snapshot(*m, dir, "after.ckpt")};
}

// active_user_* / active_item_*: at an incremental segment's start the old rows of the nodes with edges in its
// train split are shrunk (and perturbed); every other row is untouched. With no epochs the start is what the
// model keeps, so it can be read back exactly. Both sides on here (the default refreshes users only).
TEST_CASE("active_user_* and active_item_* refresh exactly the old rows the new segment trains", "[model]") {
  TempDir dir("model-active-rows");
  const auto stream = SmallStream();
  for (const float noise : {0.0f, 1.0f}) {
    INFO("noise " << noise);
    ModelConfig config = SmallConfig(Strategy::kFinetune);
    config.active_user_shrink = config.active_item_shrink = 0.5f;
    config.active_user_noise = config.active_item_noise = noise;
    config.max_epochs = 0;  // no training: the rows after Update are its start
    const auto [before, after] = RowsAroundSegment1(config, stream, dir);
    std::set<int32_t> users, items;
    for (const auto& e : stream[1].train) {
      users.insert(e.user);
      items.insert(e.item);
    }
    for (const auto& [table, active, old_rows] :
         {std::tuple{"user_emb", &users, stream[0].num_users}, std::tuple{"item_emb", &items, stream[0].num_items}}) {
      INFO(table);
      const auto b = Floats(before.arrays.at(table)), a = Floats(after.arrays.at(table));
      const int d = config.dim;
      int64_t refreshed = 0, kept = 0;
      for (int32_t r = 0; r < old_rows; ++r) {
        const bool on = active->count(r) > 0;
        for (int k = 0; k < d; ++k) {
          const float x = b[static_cast<size_t>(r) * d + k], y = a[static_cast<size_t>(r) * d + k];
          if (!on) REQUIRE(y == x);                      // untouched, bitwise
          if (on && noise == 0) REQUIRE(y == x * 0.5f);  // exactly shrunk
        }
        (on ? refreshed : kept) += 1;
      }
      REQUIRE(refreshed > 0);
      REQUIRE(kept > 0);
      if (noise > 0) {  // the noise: active rows differ from the shrunk ones by ~ one xavier std per entry
        double sq = 0;
        int64_t n = 0;
        for (int32_t r : *active) {
          if (r >= old_rows) continue;
          for (int k = 0; k < d; ++k, ++n) {
            const double diff = a[static_cast<size_t>(r) * d + k] - 0.5 * b[static_cast<size_t>(r) * d + k];
            sq += diff * diff;
          }
        }
        const double xavier = std::sqrt(2.0 / (old_rows + d));
        REQUIRE(std::sqrt(sq / n) > 0.8 * xavier);
        REQUIRE(std::sqrt(sq / n) < 1.2 * xavier);
      }
    }
  }
}

// Rows that no step will train are not refreshed: shrinking them would only erase what they learned. Static
// trains nothing after segment 0; GPT4Rec at old_embedding_lr 0 (the paper's strict form) freezes its old rows.
TEST_CASE("active_user_* and active_item_* leave rows alone that the update does not train", "[model]") {
  TempDir dir("model-active-frozen");
  const auto stream = SmallStream();
  for (const Strategy s : {Strategy::kStatic, Strategy::kGpt4Rec}) {
    INFO(StrategyName(s));
    ModelConfig config = SmallConfig(s);
    config.active_user_shrink = config.active_item_shrink = 0.5f;
    config.active_user_noise = config.active_item_noise = 1;
    config.old_embedding_lr = 0;
    config.max_epochs = 0;
    const auto [before, after] = RowsAroundSegment1(config, stream, dir);
    for (const char* table : {"user_emb", "item_emb"}) {
      INFO(table);
      const auto b = Floats(before.arrays.at(table)), a = Floats(after.arrays.at(table));
      REQUIRE(a.size() >= b.size());
      REQUIRE(std::equal(b.begin(), b.end(), a.begin()));
    }
  }
}

TEST_CASE("prompt tuning with old_embedding_lr moves old rows but never the backbone", "[model]") {
  TempDir dir("model-oldlr");
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.old_embedding_lr = 1e-3f;
  config.new_embedding_lr = 0.05f;
  auto m = RecommenderModel::Create(config).value();
  Stepper s;
  s.Run(*m, 0);
  auto before = Snapshot(*m, dir, "seg0.ckpt");
  s.Run(*m, 1);
  auto after = Snapshot(*m, dir, "seg1.ckpt");
  REQUIRE(after.arrays.at("view_W").bytes == before.arrays.at("view_W").bytes);
  const auto& old_rows = before.arrays.at("item_emb");
  REQUIRE(after.arrays.at("item_emb").bytes.compare(0, old_rows.bytes.size(), old_rows.bytes) != 0);
  auto loaded = RecommenderModel::Load(dir / "seg1.ckpt");
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->config().new_embedding_lr == 0.05f);
  REQUIRE((*loaded)->config().old_embedding_lr == 1e-3f);
}

TEST_CASE("finetune keeps training the backbone and old embeddings", "[model]") {
  TempDir dir("model-finetune");
  ModelConfig config = SmallConfig(Strategy::kFinetune);
  config.view_projection = true;  // a backbone with parameters besides E (off by default)
  auto m = RecommenderModel::Create(config).value();
  Stepper s;
  s.Run(*m, 0);
  auto before = Snapshot(*m, dir, "seg0.ckpt");
  REQUIRE(before.arrays.count("node_P") == 0);  // the baseline has no prompts
  REQUIRE(s.Run(*m, 1).mode == TrainMode::kFinetune);
  auto after = Snapshot(*m, dir, "seg1.ckpt");
  REQUIRE(after.arrays.at("view_W").bytes != before.arrays.at("view_W").bytes);
  const auto& old_rows = before.arrays.at("user_emb");
  REQUIRE(after.arrays.at("user_emb").bytes.compare(0, old_rows.bytes.size(), old_rows.bytes) != 0);
}

TEST_CASE("without view projections the backbone is E alone: W stays the identity", "[model]") {
  TempDir dir("model-noproj");
  ModelConfig config = SmallConfig(Strategy::kFinetune);
  REQUIRE(!config.view_projection);  // the default
  auto m = RecommenderModel::Create(config).value();
  Stepper s;
  s.Run(*m, 0);
  s.Run(*m, 1);
  auto c = Snapshot(*m, dir, "seg1.ckpt");
  const std::vector<float> w = Floats(c.arrays.at("view_W"));
  const int64_t d = c.arrays.at("view_W").shape[0];
  for (int64_t r = 0; r < d; ++r)
    for (int64_t k = 0; k < d; ++k) REQUIRE(w[r * d + k] == (r == k ? 1.0f : 0.0f));
  for (float v : Floats(c.arrays.at("view_c"))) REQUIRE(v == 0.0f);
}

TEST_CASE("GPT4Rec's segment 0 pre-trains the bare backbone: Finetune's model, bitwise", "[model]") {
  TempDir dir("model-seg0");
  Stepper s;
  ModelConfig one_phase = SmallConfig(Strategy::kGpt4Rec);
  one_phase.row_phase_prompts = true;  // prompts train at t = 1 whether or not they beat the rows on validation
  one_phase.prompt_phase_epochs = 0;
  auto g = RecommenderModel::Create(one_phase).value();
  auto f = RecommenderModel::Create(SmallConfig(Strategy::kFinetune)).value();
  s.Run(*g, 0);
  s.Run(*f, 0);
  const std::vector<int32_t> users = {0, 1, 2, 50, 119};
  std::vector<float> a, b;
  REQUIRE(g->Score(users, &a).ok());
  REQUIRE(f->Score(users, &b).ok());
  REQUIRE(a == b);
  // Its prompts are still the identity (P and S zero, view prompt uniform), and move once prompt tuning starts.
  auto seg0 = Snapshot(*g, dir, "seg0.ckpt");
  for (const char* prompt : {"node_P", "struct_S", "view_v"}) {
    INFO(prompt);
    for (float v : Floats(seg0.arrays.at(prompt))) REQUIRE(v == 0.0f);
  }
  s.Run(*g, 1);
  auto seg1 = Snapshot(*g, dir, "seg1.ckpt");
  for (const char* prompt : {"node_P", "struct_S", "view_v"}) REQUIRE(seg1.arrays.at(prompt).bytes != seg0.arrays.at(prompt).bytes);

  // The design page's form trains the prompts in segment 0 too: a different model.
  ModelConfig paper = SmallConfig(Strategy::kGpt4Rec);
  paper.prompts_in_segment0 = true;
  auto p = RecommenderModel::Create(paper).value();
  s.Run(*p, 0);
  REQUIRE(p->Score(users, &a).ok());
  REQUIRE(a != b);
}

TEST_CASE("a checkpoint written before the newer config fields loads with the behaviour it was trained with",
          "[model]") {
  TempDir dir("model-oldckpt");
  Stepper s;
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  s.Run(*m, 0);
  REQUIRE(m->Save(dir / "new.ckpt").ok());
  // Rewrite it in the older layout: the same tensors, a config text without the fields added since.
  auto c = ReadCheckpointFile(dir / "new.ckpt").value();
  std::string old_text;
  for (absl::string_view line : absl::StrSplit(c.config_text, '\n', absl::SkipEmpty())) {
    const std::string key(line.substr(0, line.find('=')));
    if (key == "prompts_in_segment0" || key == "l2_on_ego" || key == "init_std" || key == "view_projection" ||
        key == "early_stop_se" || key == "valid_window" || key == "min_batches" || key == "temporal_carry" ||
        key == "active_user_shrink" || key == "active_user_noise")
      continue;
    old_text += std::string(line) + "\n";
  }
  REQUIRE(old_text.size() < c.config_text.size());
  c.config_text = old_text;
  REQUIRE(WriteCheckpointFile(dir / "old.ckpt", c).ok());
  auto loaded = RecommenderModel::Load(dir / "old.ckpt");
  REQUIRE(loaded.ok());
  const ModelConfig& lc = (*loaded)->config();
  REQUIRE(lc.prompts_in_segment0);  // what trainers did before the fields existed
  REQUIRE(lc.view_projection);
  REQUIRE(!lc.l2_on_ego);
  REQUIRE(lc.init_std == 0.1f);
  REQUIRE(lc.early_stop_se == 0.0f);
  REQUIRE(lc.valid_window == 1);
  REQUIRE(lc.min_batches == 0);
  REQUIRE(lc.temporal_carry == 1.0f);
  REQUIRE(lc.active_user_shrink == 1.0f);  // no shrink and perturb before it existed
  REQUIRE(lc.active_user_noise == 0.0f);
  const std::vector<int32_t> users = {0, 1, 2, 50};
  std::vector<float> a, b;
  REQUIRE(m->Score(users, &a).ok());
  REQUIRE((*loaded)->Score(users, &b).ok());
  REQUIRE(a == b);
}

TEST_CASE("static never trains after segment 0; retrain starts from scratch", "[model]") {
  Stepper s;
  auto st = RecommenderModel::Create(SmallConfig(Strategy::kStatic)).value();
  REQUIRE(s.Run(*st, 0).mode == TrainMode::kTrain);
  auto r = s.Run(*st, 1);
  REQUIRE(r.mode == TrainMode::kNone);
  REQUIRE(r.epochs == 0);
  REQUIRE(st->ExportEmbeddings().value().num_users == s.graphs[1].num_users);

  auto re = RecommenderModel::Create(SmallConfig(Strategy::kRetrain)).value();
  s.Run(*re, 0);
  REQUIRE(s.Run(*re, 1).mode == TrainMode::kRetrain);
}

TEST_CASE("new nodes start from their old 2-hop neighbours' mean", "[model]") {
  // Static runs no training after segment 0, so segment 1's new rows are exactly the initialisation.
  for (bool distinct : {false, true}) {
    INFO("two_hop_distinct=" << distinct);
    TempDir dir("model-init");
    Stepper s;
    ModelConfig config = SmallConfig(Strategy::kStatic);
    config.two_hop_distinct = distinct;
    auto m = RecommenderModel::Create(config).value();
    s.Run(*m, 0);
    auto before = Snapshot(*m, dir, "a.ckpt");
    s.Run(*m, 1);
    auto after = Snapshot(*m, dir, "b.ckpt");
    const auto old_u = Floats(before.arrays.at("user_emb"));
    const auto new_u = Floats(after.arrays.at("user_emb"));
    const Graph& g = s.graphs[1];
    const int32_t old_users = s.graphs[0].num_users, d = 16;
    int checked = 0;
    for (int32_t u = old_users; u < g.num_users; ++u) {
      std::map<int32_t, int> paths;  // old user -> number of 2-hop paths from u
      for (int64_t j = g.indptr[u]; j < g.indptr[u + 1]; ++j)
        for (int32_t v = 0; v < old_users; ++v)
          for (int64_t k = g.indptr[v]; k < g.indptr[v + 1]; ++k)
            if (g.indices[k] == g.indices[j]) ++paths[v];
      if (paths.empty()) continue;
      for (int c = 0; c < d; ++c) {
        double sum = 0, weight = 0;
        for (auto [v, n] : paths) {
          const double w = distinct ? 1 : n;
          sum += w * old_u[v * d + c];
          weight += w;
        }
        REQUIRE(new_u[u * d + c] == Approx(sum / weight).margin(1e-6));
      }
      ++checked;
    }
    REQUIRE(checked > 5);
  }
}

TEST_CASE("checkpoint save and load give identical scores and can continue", "[model]") {
  TempDir dir("model-ckpt");
  for (auto strategy : {Strategy::kGpt4Rec, Strategy::kPop}) {
    Stepper s;
    auto m = RecommenderModel::Create(SmallConfig(strategy)).value();
    s.Run(*m, 0);
    const std::string path = dir / (StrategyName(strategy) + ".ckpt");
    REQUIRE(m->Save(path).ok());
    auto loaded = RecommenderModel::Load(path);
    REQUIRE(loaded.ok());
    REQUIRE((*loaded)->segments_seen() == 1);
    REQUIRE((*loaded)->config().strategy == strategy);
    std::vector<int32_t> users = {0, 1, 2, 50, 100000};
    std::vector<float> a, b;
    REQUIRE(m->Score(users, &a).ok());
    REQUIRE((*loaded)->Score(users, &b).ok());
    REQUIRE(a == b);
    // The loaded model continues exactly like the original.
    s.Run(*m, 1);
    s.Run(**loaded, 1);
    REQUIRE(m->Score(users, &a).ok());
    REQUIRE((*loaded)->Score(users, &b).ok());
    REQUIRE(a == b);
  }
}

// Issue 16 item 2: the exported view weights are the view-level prompt's γ_u = softmax_k(v_k · h_u^(k)), hand-checked
// from the model's own tensors: the checkpoint's v (view_v) and the exported z, whose view-k block is
// K·γ_uk·h_u^(k), so h_u^(k) = z_u^(k) / (K γ_uk) and softmax_k(v_k · h_u^(k)) must give γ_u back. A table that
// is not γ (the old stand-in |z_u^(k)|² / |z_u|², or uniform weights while v ≠ 0) does not satisfy it.
TEST_CASE("the exported view weights are the view prompt's gamma for each user", "[model]") {
  TempDir dir("model-gamma");
  ModelConfig config = SmallConfig(Strategy::kGpt4Rec);
  config.gate_lr = 0.05f;  // the view prompt v moves visibly within the few prompt-tuning epochs
  config.row_phase_prompts = true;  // one phase, so that v moves whatever validation says
  config.prompt_phase_epochs = 0;
  auto m = RecommenderModel::Create(config).value();
  Stepper s;
  s.Run(*m, 0);
  {
    // Segment 0 trains the bare backbone (prompts at the identity, v = 0): γ is exactly uniform.
    auto e = m->ExportEmbeddings().value();
    REQUIRE(e.views == 4);
    REQUIRE(e.user_view_weights.size() == static_cast<size_t>(e.num_users) * 4);
    for (float g : e.user_view_weights) REQUIRE(g == 0.25f);
  }
  REQUIRE(s.Run(*m, 1).mode == TrainMode::kPromptTuning);
  auto e = m->ExportEmbeddings().value();
  const int K = 4, dk = e.dim / K;
  REQUIRE(e.views == K);
  REQUIRE(e.user_view_weights.size() == static_cast<size_t>(e.num_users) * K);
  auto ckpt = Snapshot(*m, dir, "seg1.ckpt");
  const std::vector<float> v = Floats(ckpt.arrays.at("view_v"));  // [K, dk]
  REQUIRE(v.size() == static_cast<size_t>(K * dk));
  // The checkpoint holds the same table (so a loaded model exports it bitwise).
  REQUIRE(Floats(ckpt.arrays.at("z_user_view_gamma")) == e.user_view_weights);
  double max_from_uniform = 0, max_fixed_point_err = 0, max_from_stand_in = 0;
  for (int32_t u = 0; u < e.num_users; ++u) {
    const float* z = e.users.data() + static_cast<size_t>(u) * e.dim;
    const float* g = e.user_view_weights.data() + static_cast<size_t>(u) * K;
    double sum = 0, norm2 = 0, logits[4], mx = -1e300;
    for (int k = 0; k < K; ++k) {
      sum += g[k];
      REQUIRE(g[k] > 0);
      double l = 0;
      for (int d = 0; d < dk; ++d) {
        l += static_cast<double>(v[k * dk + d]) * z[k * dk + d] / (K * static_cast<double>(g[k]));
        norm2 += static_cast<double>(z[k * dk + d]) * z[k * dk + d];
      }
      logits[k] = l;
      mx = std::max(mx, l);
    }
    REQUIRE(sum == Approx(1.0).epsilon(1e-5));
    double denom = 0;
    for (int k = 0; k < K; ++k) denom += std::exp(logits[k] - mx);
    for (int k = 0; k < K; ++k) {
      const double expected = std::exp(logits[k] - mx) / denom;
      max_fixed_point_err = std::max(max_fixed_point_err, std::abs(expected - g[k]));
      max_from_uniform = std::max(max_from_uniform, std::abs(g[k] - 1.0 / K));
      if (norm2 > 0) {
        double block = 0;
        for (int d = 0; d < dk; ++d) block += static_cast<double>(z[k * dk + d]) * z[k * dk + d];
        max_from_stand_in = std::max(max_from_stand_in, std::abs(block / norm2 - g[k]));
      }
    }
  }
  INFO("max |gamma - softmax(v.h)| " << max_fixed_point_err << ", max |gamma - 1/K| " << max_from_uniform
                                     << ", max |gamma - |z_k|^2/|z|^2| " << max_from_stand_in);
  CHECK(max_fixed_point_err < 1e-5);
  CHECK(max_from_uniform > 1e-3);   // the prompt did move: the check above is not trivially met by 1/K
  CHECK(max_from_stand_in > 1e-2);  // and the old stand-in is a different quantity
  // Load: bitwise the same table.
  auto loaded = RecommenderModel::Load(dir / "seg1.ckpt").value();
  REQUIRE(loaded->ExportEmbeddings().value().user_view_weights == e.user_view_weights);
  // Erasure zeroes the user's γ row too.
  REQUIRE(m->EraseUser(3).ok());
  auto erased = m->ExportEmbeddings().value();
  for (int k = 0; k < K; ++k) REQUIRE(erased.user_view_weights[3 * K + k] == 0.0f);
  REQUIRE(erased.user_view_weights[4 * K] == e.user_view_weights[4 * K]);
  // ... and the checkpoint's stored training graph keeps none of the user's edges; the others' are unchanged.
  auto after = Snapshot(*m, dir, "erased.ckpt");
  auto int64s = [](const ArrayBlob& b) {
    std::vector<int64_t> out(b.bytes.size() / 8);
    std::memcpy(out.data(), b.bytes.data(), b.bytes.size());
    return out;
  };
  auto int32s = [](const ArrayBlob& b) {
    std::vector<int32_t> out(b.bytes.size() / 4);
    std::memcpy(out.data(), b.bytes.data(), b.bytes.size());
    return out;
  };
  const auto ip0 = int64s(ckpt.arrays.at("graph_indptr")), ip1 = int64s(after.arrays.at("graph_indptr"));
  const auto ix0 = int32s(ckpt.arrays.at("graph_indices")), ix1 = int32s(after.arrays.at("graph_indices"));
  REQUIRE(ip0.size() == ip1.size());
  const int64_t degree = ip0[4] - ip0[3];
  REQUIRE(degree > 0);  // user 3 had edges: the check below is not trivially met
  CHECK(ip1[4] == ip1[3]);
  CHECK(ix1.size() + static_cast<size_t>(degree) == ix0.size());
  for (size_t u = 0; u + 1 < ip0.size(); ++u) {
    if (u == 3) continue;
    const int64_t shift = u > 3 ? degree : 0;
    REQUIRE(std::equal(ix0.begin() + ip0[u], ix0.begin() + ip0[u + 1], ix1.begin() + ip1[u]));
    REQUIRE(ip1[u + 1] - ip1[u] == ip0[u + 1] - ip0[u]);
    REQUIRE(ip1[u] == ip0[u] - shift);
  }
  // A checkpoint written before the table existed loads, with uniform weights (documented on Embeddings).
  ckpt.arrays.erase("z_user_view_gamma");
  REQUIRE(WriteCheckpointFile(dir / "old.ckpt", ckpt).ok());
  auto old = RecommenderModel::Load(dir / "old.ckpt").value();
  auto old_e = old->ExportEmbeddings().value();
  REQUIRE(old_e.views == K);
  REQUIRE(old_e.users == e.users);
  for (float g : old_e.user_view_weights) REQUIRE(g == 0.25f);
}

TEST_CASE("models without a view prompt export uniform view weights", "[model]") {
  for (auto strategy : {Strategy::kFinetune, Strategy::kPop}) {
    INFO(StrategyName(strategy));
    ModelConfig config = SmallConfig(strategy);
    auto m = RecommenderModel::Create(config).value();
    Stepper s;
    s.Run(*m, 0);
    s.Run(*m, 1);
    auto e = m->ExportEmbeddings().value();
    const int views = strategy == Strategy::kPop ? 1 : 4;  // pop's representation is 1-dim: one view, weight 1
    REQUIRE(e.views == views);
    REQUIRE(e.user_view_weights.size() == static_cast<size_t>(e.num_users) * views);
    for (float g : e.user_view_weights) REQUIRE(g == 1.0f / views);
  }
  ModelConfig no_view = SmallConfig(Strategy::kGpt4Rec);
  no_view.view_prompts = false;
  no_view.gate_lr = 0.05f;
  auto m = RecommenderModel::Create(no_view).value();
  Stepper s;
  s.Run(*m, 0);
  s.Run(*m, 1);
  const auto e = m->ExportEmbeddings().value();
  for (float g : e.user_view_weights) REQUIRE(g == 0.25f);
}

TEST_CASE("a corrupted or missing checkpoint is refused", "[model]") {
  TempDir dir("model-bad");
  REQUIRE(RecommenderModel::Load(dir / "nope.ckpt").status().code() == absl::StatusCode::kNotFound);
  Stepper s;
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  s.Run(*m, 0);
  REQUIRE(m->Save(dir / "m.ckpt").ok());
  std::string data;
  {
    std::ifstream in(dir / "m.ckpt", std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  data[data.size() / 2] ^= 0x40;
  {
    std::ofstream out(dir / "m.ckpt", std::ios::binary | std::ios::trunc);
    out << data;
  }
  REQUIRE(RecommenderModel::Load(dir / "m.ckpt").status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a cancel flag stops training before the next batch with CANCELLED", "[model]") {
  Stepper s;
  SegmentInput in;
  in.graph = &s.graphs[0];
  in.train = s.stream[0].train;
  in.valid = s.stream[0].valid;
  // Uncancelled, this segment trains for more than one epoch...
  auto full = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  auto report = full->Update(in, nullptr);
  REQUIRE(report.ok());
  REQUIRE(report->epochs > 1);
  // ...so a flag raised at the end of epoch 1 must cut it short.
  std::atomic<bool> cancel{false};
  in.cancel = &cancel;
  int epochs_seen = 0;
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  auto cancelled = m->Update(in, [&](const EpochLog&) {
    ++epochs_seen;
    cancel.store(true);
  });
  REQUIRE(cancelled.status().code() == absl::StatusCode::kCancelled);
  REQUIRE(epochs_seen == 1);
}

TEST_CASE("an exception inside LibTorch during Update comes back as INTERNAL, not a crash", "[model]") {
  TempDir dir("model-throw");
  Stepper s;
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  s.Run(*m, 0);
  REQUIRE(m->Save(dir / "m.ckpt").ok());
  REQUIRE(ThrowOnNextTrainingStep(*m).ok());
  SegmentInput in;
  in.graph = &s.graphs[1];
  in.train = s.stream[1].train;
  in.valid = s.stream[1].valid;
  auto failed = m->Update(in, nullptr);  // without the boundary this throws c10::Error out of the call
  REQUIRE(failed.status().code() == absl::StatusCode::kInternal);
  REQUIRE(std::string(failed.status().message()).find("Update: ") == 0);
  REQUIRE(std::string(failed.status().message()).find("injected failure") != std::string::npos);
  // The documented recovery: the last checkpoint loads and takes the segment as if nothing had happened.
  auto reloaded = RecommenderModel::Load(dir / "m.ckpt").value();
  auto fresh = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
  s.Run(*fresh, 0);
  s.Run(*fresh, 1);
  s.Run(*reloaded, 1);
  std::vector<int32_t> users = {0, 1, 2, 50};
  std::vector<float> a, b;
  REQUIRE(fresh->Score(users, &a).ok());
  REQUIRE(reloaded->Score(users, &b).ok());
  REQUIRE(a == b);
}

TEST_CASE("training is deterministic under a seed", "[model]") {
  std::vector<float> runs[2];
  for (auto& scores : runs) {
    Stepper s;
    auto m = RecommenderModel::Create(SmallConfig(Strategy::kGpt4Rec)).value();
    s.Run(*m, 0);
    s.Run(*m, 1);
    REQUIRE(m->Score({0, 7, 130}, &scores).ok());
  }
  REQUIRE(runs[0] == runs[1]);
}

}  // namespace
}  // namespace gpt4rec::model

namespace gpt4rec::model {
namespace {

// Scores of a few users after segments 0..t.
std::vector<float> ScoresAfter(const ModelConfig& config, Stepper& s, int t, std::vector<TrainReport>* reports) {
  auto m = RecommenderModel::Create(config).value();
  for (int k = 0; k <= t; ++k) reports->push_back(s.Run(*m, k));
  std::vector<float> out;
  REQUIRE(m->Score({0, 1, 2, 50, 119}, &out).ok());
  return out;
}

TEST_CASE("the continual-learning baselines are Finetune plus exactly their extra: off, they are Finetune bitwise",
          "[model]") {
  Stepper s;
  std::vector<TrainReport> fr;
  const std::vector<float> finetune = ScoresAfter(SmallConfig(Strategy::kFinetune), s, 1, &fr);
  REQUIRE_FALSE(fr[1].reads_old_data);

  ModelConfig lsp_off = SmallConfig(Strategy::kLsp);
  lsp_off.lsp_weight = 0;
  ModelConfig replay_off = SmallConfig(Strategy::kReplayInverseDegree);
  replay_off.replay_ratio = 0;
  for (const ModelConfig& off : {lsp_off, replay_off}) {
    INFO(StrategyName(off.strategy));
    std::vector<TrainReport> r;
    REQUIRE(ScoresAfter(off, s, 1, &r) == finetune);
    REQUIRE(r[0].mode == TrainMode::kTrain);
    REQUIRE(r[1].replayed_edges == 0);
  }
  // On, each changes the model, and only the replay strategies read old data.
  for (Strategy st : {Strategy::kLsp, Strategy::kReplayUniform, Strategy::kReplayInverseDegree}) {
    INFO(StrategyName(st));
    std::vector<TrainReport> r;
    REQUIRE(ScoresAfter(SmallConfig(st), s, 1, &r) != finetune);
    REQUIRE(r[1].mode == (st == Strategy::kLsp ? TrainMode::kLsp : TrainMode::kReplay));
    REQUIRE(r[1].reads_old_data == (st != Strategy::kLsp));
    REQUIRE_FALSE(r[0].reads_old_data);
    if (st != Strategy::kLsp) {
      // 0.2 x the old edges drawn with replacement: at most that many distinct, and not far below for uniform
      // draws over many more edges than draws.
      const double draws = std::round(0.2 * static_cast<double>(s.graphs[0].indices.size()));
      REQUIRE(r[1].replayed_edges <= draws);
      REQUIRE(r[1].replayed_edges > 0.8 * draws);
    }
  }
}

TEST_CASE("lsp distils against the previous model's frozen rows: the teacher is bitwise the segment-0 model",
          "[model]") {
  TempDir dir("model-lsp");
  Stepper s;
  auto m = RecommenderModel::Create(SmallConfig(Strategy::kLsp)).value();
  s.Run(*m, 0);
  REQUIRE(LastLspTeacher(*m).status().code() == absl::StatusCode::kFailedPrecondition);
  auto seg0 = Snapshot(*m, dir, "seg0.ckpt");
  s.Run(*m, 1);
  auto seg1 = Snapshot(*m, dir, "seg1.ckpt");
  auto teacher = LastLspTeacher(*m);
  REQUIRE(teacher.ok());
  const std::vector<float> u0 = Floats(seg0.arrays.at("user_emb")), i0 = Floats(seg0.arrays.at("item_emb"));
  const std::vector<float> u1 = Floats(seg1.arrays.at("user_emb"));
  // The teacher is the segment-0 model, bitwise, after a whole segment of training of the student ...
  REQUIRE(teacher->teacher_users == u0);
  REQUIRE(teacher->teacher_items == i0);
  // ... which did move the same rows.
  REQUIRE(std::vector<float>(u1.begin(), u1.begin() + u0.size()) != u0);
  // Targets: log softmax over each old user's drawn neighbours of the segment-0 rows' dot products, and every
  // drawn neighbour is an old item the user has an edge to.
  const int d = teacher->dim, K = teacher->neighbours;
  REQUIRE(K == 10);
  const Graph& g = s.graphs[1];
  int checked = 0;
  for (int32_t u = 0; u < teacher->old_users; ++u) {
    if (!teacher->user_valid[u]) continue;
    std::vector<double> dot(K);
    double mx = -1e300;
    for (int k = 0; k < K; ++k) {
      const int64_t i = teacher->user_neighbours[u * K + k];
      REQUIRE(i < teacher->old_items);
      REQUIRE(std::binary_search(g.indices.begin() + g.indptr[u], g.indices.begin() + g.indptr[u + 1],
                                 static_cast<int32_t>(i)));
      double acc = 0;
      for (int c = 0; c < d; ++c) acc += static_cast<double>(u0[u * d + c]) * i0[i * d + c];
      dot[k] = acc;
      mx = std::max(mx, acc);
    }
    double z = 0;
    for (double v : dot) z += std::exp(v - mx);
    for (int k = 0; k < K; ++k)
      REQUIRE(teacher->user_log_target[u * K + k] == Approx(dot[k] - mx - std::log(z)).margin(1e-5));
    ++checked;
  }
  REQUIRE(checked > 100);  // 120 old users, all active in segment 0
}

TEST_CASE("a replay strategy restarted from its checkpoint replays the same old edges: the same model, bitwise",
          "[model]") {
  TempDir dir("model-replay-restart");
  Stepper s;
  ModelConfig config = SmallConfig(Strategy::kReplayInverseDegree);
  config.reservoir_size = 300;  // bounded: the reservoir is rebuilt from the checkpoint's graph alone
  auto m = RecommenderModel::Create(config).value();
  s.Run(*m, 0);
  REQUIRE(m->Save(dir / "seg0.ckpt").ok());
  auto restarted = RecommenderModel::Load(dir / "seg0.ckpt");
  REQUIRE(restarted.ok());
  const TrainReport a = s.Run(*m, 1), b = s.Run(**restarted, 1);
  REQUIRE(a.replayed_edges > 0);
  REQUIRE(a.replayed_edges == b.replayed_edges);
  std::vector<float> sa, sb;
  REQUIRE(m->Score({0, 1, 2, 50, 119, 130}, &sa).ok());
  REQUIRE((*restarted)->Score({0, 1, 2, 50, 119, 130}, &sb).ok());
  REQUIRE(sa == sb);
}

}  // namespace
}  // namespace gpt4rec::model
