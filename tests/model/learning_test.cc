// Learning test: on a stream with planted communities that drift across segments, GPT4Rec after its prompt-tuning
// updates must beat popularity and random ranking on Recall@20 of each incremental segment's test split.
#include <catch2/catch.hpp>

#include <cstdio>

#include "model/recommender_model.h"
#include "tests/model/synthetic_stream.h"

namespace gpt4rec::model {
namespace {

using namespace gpt4rec::testing;

ModelConfig LearningConfig(Strategy s) {
  ModelConfig c;
  c.strategy = s;
  c.dim = 32;
  c.views = 4;
  c.batch_size = 512;  // rates and the backbone's training: the library's defaults
  c.max_epochs = 30;
  c.min_epochs = 5;
  c.patience = 3;
  c.threads = 2;
  c.seed = 11;
  return c;
}

// Mean test Recall@20 over the incremental segments (t >= 1), as the replay protocol reports it.
// `drift_prompts`: the configuration for community-wide drift — prompts at 1e-3 with the temporal prompts on.
double RunStream(Strategy s, const std::vector<StreamSegment>& stream, std::vector<double>* per_segment,
                 bool drift_prompts = false) {
  ModelConfig config = LearningConfig(s);
  if (drift_prompts) {
    config.prompt_lr = 1e-3f;
    config.recency_prompt = config.layer_prompt = true;
  }
  auto m = RecommenderModel::Create(config).value();
  double sum = 0;
  for (size_t t = 0; t < stream.size(); ++t) {
    Graph g = AccumulatedGraph(stream, static_cast<int>(t));
    const SegmentInput in = SegmentInputOf(stream, static_cast<int>(t), g);
    auto r = m->Update(in, nullptr);
    REQUIRE(r.ok());
    std::vector<int32_t> users;
    std::vector<std::vector<int32_t>> truth;
    GroupByUser(stream[t].test, g.num_users, g.num_items, &users, &truth);
    std::vector<float> scores;
    REQUIRE(m->Score(users, &scores).ok());
    const double recall = Recall20(g, users, scores, truth);
    per_segment->push_back(recall);
    std::fprintf(stderr, "%-8s segment %zu: mode=%s epochs=%d best=%d valid=%.4f test Recall@20=%.4f (%.2fs)\n",
                 StrategyName(s).c_str(), t, TrainModeName(r->mode).c_str(), r->epochs, r->best_epoch, r->best_valid_recall20,
                 recall, r->seconds);
    if (t >= 1) sum += recall;
  }
  return sum / (stream.size() - 1);
}

TEST_CASE("GPT4Rec learns a drifting community stream far better than Pop and random", "[model][learning]") {
  StreamSpec spec;  // 4 segments, 8 communities, 30% of old users switch community per segment
  auto stream = MakeDriftingStream(spec);
  std::vector<double> g_seg, p_seg;
  const double gpt4rec = RunStream(Strategy::kGpt4Rec, stream, &g_seg);
  const double pop = RunStream(Strategy::kPop, stream, &p_seg);
  // Random ranking's expected Recall@20 is 20 / (number of items not yet seen by the user) per segment.
  double random = 0;
  for (size_t t = 1; t < stream.size(); ++t) random += 20.0 / stream[t].num_items;
  random /= stream.size() - 1;
  std::fprintf(stderr, "mean incremental Recall@20: gpt4rec=%.4f pop=%.4f random~%.4f\n", gpt4rec, pop, random);
  REQUIRE(gpt4rec > 0.0);
  REQUIRE(gpt4rec > 1.5 * pop);
  REQUIRE(gpt4rec > 3.0 * random);
  for (size_t t = 1; t < stream.size(); ++t) REQUIRE(g_seg[t] > p_seg[t]);
}

// On this stream a third of the old users move to another community each segment. Measured (seed 11) with the
// paper's strict form (old rows frozen, no temporal prompts) and the old backbone: gpt4rec 0.465, static 0.438,
// finetune 0.594 — frozen rows could not follow. With today's defaults (prompts at 1e-4, rows at the full rate):
// gpt4rec 0.567, static 0.452, finetune 0.570 (the same with the temporal prompts off, today's default); with
// prompts at 1e-3 and the temporal prompts on: gpt4rec 0.590. The real streams chose 1e-4
// (at 1e-3 GPT4Rec lost 6-11 % to Finetune there, README "Model quality"), so the defaults claim: far ahead of not
// updating, level with finetuning (within 3 %); and faster prompts are what wins on this kind of drift.
TEST_CASE("prompt tuning follows drift far better than not updating, level with finetuning", "[model][learning]") {
  StreamSpec spec;
  auto stream = MakeDriftingStream(spec);
  std::vector<double> g_seg, s_seg, f_seg, fast_seg;
  const double gpt4rec = RunStream(Strategy::kGpt4Rec, stream, &g_seg);
  const double stat = RunStream(Strategy::kStatic, stream, &s_seg);
  const double finetune = RunStream(Strategy::kFinetune, stream, &f_seg);
  const double fast_prompts = RunStream(Strategy::kGpt4Rec, stream, &fast_seg, /*drift_prompts=*/true);
  std::fprintf(stderr, "mean incremental Recall@20: gpt4rec=%.4f static=%.4f finetune=%.4f gpt4rec(prompt_lr 1e-3)=%.4f\n",
               gpt4rec, stat, finetune, fast_prompts);
  REQUIRE(gpt4rec > 1.15 * stat);
  REQUIRE(gpt4rec > 0.97 * finetune);
  REQUIRE(fast_prompts > finetune);
}

}  // namespace
}  // namespace gpt4rec::model

namespace gpt4rec::model {
namespace {

using namespace gpt4rec::testing;

struct OneSegmentRun {
  double test_recall20 = 0;
  TrainReport report;
};

// The plain backbone (Finetune's network) on one segment with the library's defaults except the epoch schedule.
OneSegmentRun TrainOneSegment(Strategy s, const StreamSegment& seg, int max_epochs, int patience,
                              int min_batches = ModelConfig().min_batches) {
  ModelConfig c;  // defaults: what a user gets
  c.strategy = s;
  c.threads = 2;
  c.max_epochs = max_epochs;
  c.patience = patience;
  c.min_batches = min_batches;
  auto m = RecommenderModel::Create(c).value();
  std::vector<StreamSegment> stream = {seg};
  Graph g = AccumulatedGraph(stream, 0);
  SegmentInput in;
  in.graph = &g;
  in.train = seg.train;
  in.valid = seg.valid;
  auto r = m->Update(in, nullptr);
  REQUIRE(r.ok());
  std::vector<int32_t> users;
  std::vector<std::vector<int32_t>> truth;
  GroupByUser(seg.test, g.num_users, g.num_items, &users, &truth);
  std::vector<float> scores;
  REQUIRE(m->Score(users, &scores).ok());
  return {Recall20(g, users, scores, truth), *r};
}

// Measured (seed 5; 1,500 users, 1,000 items, defaults): backbone 0.284 (best epoch 3), Pop 0.188 (1.51×).
// The threshold leaves a margin for thread-count and platform differences in float sums.
TEST_CASE("the backbone beats popularity clearly on a real-shaped graph", "[model][learning]") {
  const StreamSegment seg = MakeRealShapedSegment(1500, 1000, 12, 5);
  const OneSegmentRun backbone = TrainOneSegment(Strategy::kFinetune, seg, 40, 5);
  const OneSegmentRun pop = TrainOneSegment(Strategy::kPop, seg, 40, 5);
  std::fprintf(stderr, "real-shaped graph: backbone %.4f (best epoch %d of %d), pop %.4f\n", backbone.test_recall20,
               backbone.report.best_epoch, backbone.report.epochs, pop.test_recall20);
  REQUIRE(backbone.test_recall20 > 1.3 * pop.test_recall20);
}

// A sparse stream's small segment (here 509 training edges: one batch of 512) trains on smaller batches so that an
// epoch still takes min_batches steps; one pass of 512-edge batches is 25 steps in 25 epochs and ends far from
// fitted. Measured (seed 1; 40 users, 200 items): final training loss 0.090 against 0.592 (ln 2 = 0.693 is an
// untrained model). The ranking gain is measured on real sparse streams (README, "Small segments"): a 40-user
// test split is too small to compare rankings on.
TEST_CASE("a small segment still trains min_batches steps per epoch", "[model][learning]") {
  const StreamSegment seg = MakeRealShapedSegment(40, 200, 6, 1);
  const ModelConfig defaults;
  REQUIRE(defaults.min_batches > 1);
  REQUIRE(seg.train.size() <= static_cast<size_t>(defaults.batch_size));
  const OneSegmentRun stepped = TrainOneSegment(Strategy::kFinetune, seg, defaults.max_epochs, defaults.patience);
  const OneSegmentRun one_pass = TrainOneSegment(Strategy::kFinetune, seg, defaults.max_epochs, defaults.patience, 0);
  std::fprintf(stderr, "small segment (%zu train edges): min_batches %d loss %.4f, one batch per epoch loss %.4f\n",
               seg.train.size(), defaults.min_batches, stepped.report.final_loss, one_pass.report.final_loss);
  REQUIRE(one_pass.report.final_loss > 0.4);
  REQUIRE(stepped.report.final_loss < 0.5 * one_pass.report.final_loss);
}

// Early stopping with the defaults stops after the validation curve has peaked: the epoch it keeps is within
// noise of the best epoch of a run that never stops early, and it stopped only after the curve turned down.
TEST_CASE("default early stopping does not stop before the validation curve has peaked", "[model][learning]") {
  const StreamSegment seg = MakeRealShapedSegment(1500, 1000, 12, 5);
  const ModelConfig defaults;
  const OneSegmentRun full = TrainOneSegment(Strategy::kFinetune, seg, 60, 1000);  // the whole curve
  const OneSegmentRun stopped = TrainOneSegment(Strategy::kFinetune, seg, defaults.max_epochs, defaults.patience);
  double peak = 0;
  int peak_epoch = 0;
  for (const EpochLog& e : full.report.log)
    if (e.valid_recall20 > peak) peak = e.valid_recall20, peak_epoch = e.epoch;
  std::fprintf(stderr, "full curve peaks at epoch %d (%.4f); defaults keep epoch %d (%.4f) of %d\n", peak_epoch, peak,
               stopped.report.best_epoch, stopped.report.best_valid_recall20, stopped.report.epochs);
  const EpochLog& at_best = stopped.report.log[stopped.report.best_epoch - 1];
  REQUIRE(stopped.report.best_valid_recall20 >= peak - 2 * at_best.valid_standard_error);
  // It ran past its best epoch (it saw the curve turn down), unless it used every epoch it was allowed.
  if (stopped.report.epochs < defaults.max_epochs) REQUIRE(stopped.report.epochs > stopped.report.best_epoch);
}

}  // namespace
}  // namespace gpt4rec::model
