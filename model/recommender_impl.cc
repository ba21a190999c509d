// RecommenderModel's entry points and the per-segment strategy dispatch: what each strategy does with a new
// segment (design page §3–4). The class is in model_impl.h; its other concerns have files of their own.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "model/model_impl.h"
#include "model/replay_reservoir.h"
#include "model/test_support.h"

namespace gpt4rec::model {

absl::Status ModelImpl::ValidateInput(const SegmentInput& input) const {
  if (input.graph == nullptr) return absl::InvalidArgumentError("SegmentInput.graph: null");
  const Graph& g = *input.graph;
  if (auto st = ValidateGraph(g); !st.ok()) return st;
  if (g.num_users < graph_.num_users)
    return absl::InvalidArgumentError(absl::StrCat("graph.num_users: ", g.num_users, " < ", graph_.num_users,
                                                   " known to the model (the id space may only grow)"));
  if (g.num_items < graph_.num_items)
    return absl::InvalidArgumentError(absl::StrCat("graph.num_items: ", g.num_items, " < ", graph_.num_items,
                                                   " known to the model (the id space may only grow)"));
  for (size_t k = 0; k < input.train.size(); ++k) {
    const auto& e = input.train[k];
    if (e.user < 0 || e.user >= g.num_users)
      return absl::InvalidArgumentError(absl::StrCat("train[", k, "].user: ", e.user, " outside the graph"));
    if (e.item < 0 || e.item >= g.num_items)
      return absl::InvalidArgumentError(absl::StrCat("train[", k, "].item: ", e.item, " outside the graph"));
  }
  return absl::OkStatus();
}

void ModelImpl::SetGraph(Graph graph) {
  graph_ = std::move(graph);
  bip_ = std::make_unique<BipartiteCsr>(PrepareGraph(graph_));
  adj_ = std::make_unique<NormAdjacency>(BuildNormAdjacency(*bip_));
}

absl::StatusOr<TrainReport> ModelImpl::UpdateUnguarded(const SegmentInput& input, const EpochCallback& on_epoch) {
  if (auto st = ValidateInput(input); !st.ok()) return st;
  const auto t0 = Clock::now();
  ApplyThreads(config_);
  torch::manual_seed(MixSeed(config_.seed, static_cast<uint64_t>(segments_)));
  const Graph& g = *input.graph;
  auto bip = std::make_unique<BipartiteCsr>(PrepareGraph(g));
  auto adj = std::make_unique<NormAdjacency>(BuildNormAdjacency(*bip));

  TrainReport report;
  report.segment = segments_;
  report.mode = TrainMode::kNone;
  const Strategy s = config_.strategy;
  if (s != Strategy::kPop) {
    const bool fresh = !net_ || s == Strategy::kRetrain;
    std::vector<int32_t> pos_u, pos_i;
    if (s == Strategy::kRetrain) {  // positives: every edge of the accumulated training graph
      pos_u.reserve(bip->num_edges());
      for (int32_t u = 0; u < bip->num_users; ++u)
        for (int64_t j = bip->user_ptr[u]; j < bip->user_ptr[u + 1]; ++j) pos_u.push_back(u);
      pos_i = bip->user_items;
    } else {
      for (const auto& e : input.train) {
        pos_u.push_back(e.user);
        pos_i.push_back(e.item);
      }
    }
    if (fresh) {
      net_ = Gpt4RecNet(ShapeFor(config_), g.num_users, g.num_items);
      report.mode = segments_ == 0 ? TrainMode::kTrain : TrainMode::kRetrain;
    } else {
      if (s == Strategy::kLsp) {
        // The teacher: the previous segment's rows (user_old/item_old before this segment's training and before
        // any shrink and perturb), cloned.
        lsp_ = std::make_unique<LspTargets>(BuildLspTargets(*bip, net_->user_old, net_->item_old,
                                                            config_.lsp_neighbours,
                                                            MixSeed(config_.seed ^ 0x15b, static_cast<uint64_t>(segments_))));
      }
      // Shrink and perturb only rows this segment trains: Static trains nothing after segment 0, GPT4Rec's old rows
      // are frozen at old_embedding_lr 0.
      const bool old_rows_train =
          s != Strategy::kStatic && (s != Strategy::kGpt4Rec || config_.old_embedding_lr > 0);
      if (old_rows_train) RefreshActiveRows(input.train);
      // New nodes: mean of their old 2-hop neighbours' ID embeddings over the accumulated graph.
      const int32_t old_u = static_cast<int32_t>(net_->num_users()), old_i = static_cast<int32_t>(net_->num_items());
      auto new_u = torch::empty({g.num_users - old_u, config_.dim});
      auto new_i = torch::empty({g.num_items - old_i, config_.dim});
      auto uo = net_->user_old.contiguous(), io = net_->item_old.contiguous();
      TwoHopMeanInit(*bip, Side::kUser, uo.data_ptr<float>(), old_u, g.num_users - old_u, config_.dim,
                     new_u.data_ptr<float>(), config_.two_hop_distinct);
      TwoHopMeanInit(*bip, Side::kItem, io.data_ptr<float>(), old_i, g.num_items - old_i, config_.dim,
                     new_i.data_ptr<float>(), config_.two_hop_distinct);
      net_->AppendRows(new_u, new_i);
      if (s == Strategy::kFinetune) report.mode = TrainMode::kFinetune;
      if (s == Strategy::kGpt4Rec) {
        report.mode = TrainMode::kPromptTuning;
        // The temporal prompts start from their last weights pulled towards the identity (temporal_carry): each
        // segment's training biases them towards age 0, so carried over whole the bias compounds.
        if (config_.temporal_carry != 1) net_->ScaleTemporalPrompts(config_.temporal_carry);
      }
      if (s == Strategy::kLsp) report.mode = TrainMode::kLsp;
      if (s == Strategy::kReplayUniform || s == Strategy::kReplayInverseDegree) {
        report.mode = TrainMode::kReplay;
        report.replayed_edges = AddReplayedEdges(&pos_u, &pos_i);
      }
    }
    report.reads_old_data = ReadsOldData(s) && report.mode != TrainMode::kTrain;
    if (report.mode != TrainMode::kNone) {
      ValidSet valid = GroupValid(input.valid, g.num_users, g.num_items);
      // The epochs' draws (shuffles) get their own seed, so they do not depend on how many prompt tensors the
      // network drew at creation: GPT4Rec's backbone-only segment 0 is then Finetune's, bitwise.
      torch::manual_seed(MixSeed(config_.seed ^ 0x7e57, static_cast<uint64_t>(segments_)));
      const LspTargets* lsp = report.mode == TrainMode::kLsp ? lsp_.get() : nullptr;
      const bool prompt_tuning = report.mode == TrainMode::kPromptTuning;
      auto cancelled = [&] {
        return absl::CancelledError(absl::StrCat("training of segment ", segments_, " was cancelled"));
      };
      if (!Train(*bip, *adj, pos_u, pos_i, valid, prompt_tuning ? TrainPhase::kRows : TrainPhase::kFull, lsp,
                 input.cancel, on_epoch, &report)) {
        return cancelled();
      }
      if (prompt_tuning && config_.prompt_phase_epochs > 0 &&
          !Train(*bip, *adj, pos_u, pos_i, valid, TrainPhase::kPrompts, nullptr, input.cancel, on_epoch, &report)) {
        return cancelled();
      }
    }
    net_->MergeRows();
  }
  graph_ = g;
  bip_ = std::move(bip);
  adj_ = std::move(adj);
  PublishEmbeddings();
  ++segments_;
  report.seconds = Since(t0);
  return report;
}

void ModelImpl::RefreshActiveRows(const std::vector<Interaction>& train) {
  // Shrink and perturb (ModelConfig.active_user_* / active_item_*): only the old rows that this segment's
  // training will move; a row it cannot reach keeps what it learned. A side that is off costs nothing.
  torch::NoGradGuard no_grad;
  auto refresh = [&](torch::Tensor* rows, int32_t Interaction::*node, float shrink, float noise) {
    if (shrink == 1 && noise == 0) return;
    const int64_t old_rows = rows->size(0);
    auto on = torch::zeros({old_rows, 1});
    auto mark = on.accessor<float, 2>();
    for (const Interaction& e : train)
      if (e.*node < old_rows) mark[e.*node][0] = 1;
    auto fresh = *rows * shrink;
    if (noise > 0)  // in units of the table's xavier-normal std, as fresh rows are drawn
      fresh = fresh + torch::randn_like(fresh) *
                          (noise * std::sqrt(2.0 / static_cast<double>(old_rows + config_.dim)));
    *rows = torch::where(on > 0, fresh, *rows).contiguous();
  };
  refresh(&net_->user_old, &Interaction::user, config_.active_user_shrink, config_.active_user_noise);
  refresh(&net_->item_old, &Interaction::item, config_.active_item_shrink, config_.active_item_noise);
}

int64_t ModelImpl::AddReplayedEdges(std::vector<int32_t>* pos_users, std::vector<int32_t>* pos_items) const {
  // graph_ is still the previous segment's accumulated graph: the old edges. The reservoir's hash seed is fixed
  // across segments (so a bounded reservoir evolves as one); the draws get a seed per segment.
  const EdgeList reservoir = ReservoirEdges(graph_, config_.reservoir_size, MixSeed(config_.seed, 0x7e5e7));
  const auto weighting = config_.strategy == Strategy::kReplayInverseDegree ? ReplayWeighting::kInverseDegree
                                                                            : ReplayWeighting::kUniform;
  const int64_t draws =
      std::llround(static_cast<double>(config_.replay_ratio) * static_cast<double>(graph_.indices.size()));
  const EdgeList replayed =
      DrawnEdges(reservoir, DrawCounts(ReplayWeights(reservoir, weighting), draws,
                                       MixSeed(config_.seed ^ 0x4e91a, static_cast<uint64_t>(segments_))));
  pos_users->insert(pos_users->end(), replayed.users.begin(), replayed.users.end());
  pos_items->insert(pos_items->end(), replayed.items.begin(), replayed.items.end());
  return static_cast<int64_t>(replayed.size());
}

absl::StatusOr<std::unique_ptr<RecommenderModel>> RecommenderModel::Create(const ModelConfig& config) {
  if (auto st = ValidateConfig(config); !st.ok()) return st;
  return std::unique_ptr<RecommenderModel>(new ModelImpl(config));
}

absl::StatusOr<std::unique_ptr<RecommenderModel>> RecommenderModel::Load(const std::string& path) {
  auto contents = ReadCheckpointFile(path);
  if (!contents.ok()) return contents.status();
  auto config = ParseConfigText(contents->config_text);
  if (!config.ok()) return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", config.status().message()));
  auto model = std::make_unique<ModelImpl>(*config);
  try {
    if (auto st = model->Restore(*contents); !st.ok()) return st;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", e.what()));
  }
  return std::unique_ptr<RecommenderModel>(std::move(model));
}

absl::StatusOr<double> RecomputeEmbeddings(RecommenderModel& model) {
  auto* impl = dynamic_cast<ModelImpl*>(&model);
  if (impl == nullptr) return absl::InvalidArgumentError("RecomputeEmbeddings: not a gpt4rec model");
  return impl->Recompute();
}

absl::Status SetEpochs(RecommenderModel& model, int max_epochs, int min_epochs) {
  if (max_epochs < 0 || min_epochs < 0) return absl::InvalidArgumentError("SetEpochs: negative epoch count");
  auto* impl = dynamic_cast<ModelImpl*>(&model);
  if (impl == nullptr) return absl::InvalidArgumentError("SetEpochs: not a gpt4rec model");
  impl->SetEpochs(max_epochs, min_epochs);
  return absl::OkStatus();
}

absl::Status ThrowOnNextTrainingStep(RecommenderModel& model) {
  auto* impl = dynamic_cast<ModelImpl*>(&model);
  if (impl == nullptr) return absl::InvalidArgumentError("ThrowOnNextTrainingStep: not a gpt4rec model");
  impl->ThrowOnNextStep();
  return absl::OkStatus();
}

absl::StatusOr<LspTeacherState> LastLspTeacher(const RecommenderModel& model) {
  const auto* impl = dynamic_cast<const ModelImpl*>(&model);
  if (impl == nullptr) return absl::InvalidArgumentError("LastLspTeacher: not a gpt4rec model");
  const LspTargets* t = impl->last_lsp();
  if (t == nullptr) return absl::FailedPreconditionError("LastLspTeacher: no lsp update yet");
  auto floats = [](const torch::Tensor& x) {
    auto c = x.contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  auto longs = [](const torch::Tensor& x) {
    auto c = x.contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  auto flags = [](const torch::Tensor& x) {
    auto c = x.to(torch::kUInt8).contiguous();
    return std::vector<uint8_t>(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
  };
  LspTeacherState s;
  s.old_users = static_cast<int32_t>(t->teacher_users.size(0));
  s.old_items = static_cast<int32_t>(t->teacher_items.size(0));
  s.dim = static_cast<int32_t>(t->teacher_users.size(1));
  s.neighbours = static_cast<int32_t>(t->user_neighbours.size(1));
  s.teacher_users = floats(t->teacher_users);
  s.teacher_items = floats(t->teacher_items);
  s.user_neighbours = longs(t->user_neighbours);
  s.item_neighbours = longs(t->item_neighbours);
  s.user_log_target = floats(t->user_log_target);
  s.item_log_target = floats(t->item_log_target);
  s.user_valid = flags(t->user_valid);
  s.item_valid = flags(t->item_valid);
  return s;
}

}  // namespace gpt4rec::model
