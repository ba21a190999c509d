// The trainer behind RecommenderModel: segment-wise training for every strategy, early stopping, serving cache,
// checkpoints. Design page §2–4.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "model/checkpoint_io.h"
#include "model/config_codec.h"
#include "model/csr_spmm.h"
#include "model/gpt4rec_net.h"
#include "model/graph_ops.h"
#include "model/recommender_model.h"
#include "model/test_support.h"

namespace gpt4rec::model {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

NetShape ShapeFor(const ModelConfig& c) {
  NetShape s;
  s.dim = c.dim;
  s.views = c.views;
  s.node_prompts = c.node_prompts;
  s.structure_prompts = c.structure_prompts;
  s.structure = c.structure_prompt;
  s.view_prompts = c.view_prompts;
  s.recency = c.recency_prompt;
  s.layer_prompt = c.layer_prompt;
  s.prompts = UsesPrompts(c);
  s.layers = c.layers;
  s.init_std = c.init_std;
  s.random_prompts = c.prompts_in_segment0;
  return s;
}

void ApplyThreads(const ModelConfig& c) {
  int n = c.threads > 0 ? c.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != n) torch::set_num_threads(n);
}

ArrayBlob ToBlob(const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  ArrayBlob b;
  b.dtype = c.scalar_type() == torch::kFloat32 ? 0 : c.scalar_type() == torch::kInt64 ? 1 : 2;
  b.shape.assign(c.sizes().begin(), c.sizes().end());
  b.bytes.assign(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return b;
}

torch::Tensor FromBlob(const ArrayBlob& b) {
  auto dtype = b.dtype == 0 ? torch::kFloat32 : b.dtype == 1 ? torch::kInt64 : torch::kInt32;
  auto t = torch::empty(b.shape, torch::TensorOptions().dtype(dtype));
  std::memcpy(t.data_ptr(), b.bytes.data(), b.bytes.size());
  return t;
}

// Validation edges grouped by user, restricted to ids inside the graph (ids first seen in validation cannot be
// ranked by a model that has never seen them; they do not take part in early stopping).
struct ValidSet {
  std::vector<int32_t> users;
  std::vector<std::vector<int32_t>> items;  // sorted
};
ValidSet GroupValid(const std::vector<Interaction>& valid, int32_t num_users, int32_t num_items) {
  std::vector<std::vector<int32_t>> by_user(num_users);
  for (const auto& e : valid)
    if (e.user >= 0 && e.user < num_users && e.item >= 0 && e.item < num_items) by_user[e.user].push_back(e.item);
  ValidSet v;
  for (int32_t u = 0; u < num_users; ++u) {
    if (by_user[u].empty()) continue;
    std::sort(by_user[u].begin(), by_user[u].end());
    by_user[u].erase(std::unique(by_user[u].begin(), by_user[u].end()), by_user[u].end());
    v.users.push_back(u);
    v.items.push_back(std::move(by_user[u]));
  }
  return v;
}

// Recall@20 over validation users with full ranking (the user's training items excluded), and the standard error
// of that mean over users (what early stopping takes for noise).
struct ValidScore {
  double recall20 = 0;
  double standard_error = 0;
};
ValidScore ValidRecall20(const torch::Tensor& z, const BipartiteCsr& g, const ValidSet& v) {
  if (v.users.empty()) return {};
  torch::NoGradGuard no_grad;
  const int64_t U = g.num_users, I = g.num_items;
  auto zi = z.slice(0, U, U + I);
  const int64_t k = std::min<int64_t>(20, I);
  double sum = 0, sum_sq = 0;
  const int64_t batch = 512;
  for (int64_t b0 = 0; b0 < static_cast<int64_t>(v.users.size()); b0 += batch) {
    const int64_t b1 = std::min<int64_t>(b0 + batch, v.users.size());
    auto idx = torch::from_blob(const_cast<int32_t*>(v.users.data()) + b0, {b1 - b0}, torch::kInt32).to(torch::kLong);
    auto scores = torch::mm(z.index_select(0, idx), zi.t()).contiguous();
    float* s = scores.data_ptr<float>();
    for (int64_t r = 0; r < b1 - b0; ++r) {
      const int32_t u = v.users[b0 + r];
      for (int64_t j = g.user_ptr[u]; j < g.user_ptr[u + 1]; ++j) s[r * I + g.user_items[j]] = -INFINITY;
    }
    auto top = std::get<1>(scores.topk(k, 1)).contiguous();
    const int64_t* t = top.data_ptr<int64_t>();
    for (int64_t r = 0; r < b1 - b0; ++r) {
      const auto& truth = v.items[b0 + r];
      int hits = 0;
      for (int64_t c = 0; c < k; ++c)
        hits += std::binary_search(truth.begin(), truth.end(), static_cast<int32_t>(t[r * k + c]));
      const double recall = static_cast<double>(hits) / truth.size();
      sum += recall;
      sum_sq += recall * recall;
    }
  }
  const double n = static_cast<double>(v.users.size()), mean = sum / n;
  const double var = n > 1 ? std::max(0.0, (sum_sq - n * mean * mean) / (n - 1)) : 0.0;
  return {mean, std::sqrt(var / n)};
}

class ModelImpl final : public RecommenderModel {
 public:
  explicit ModelImpl(const ModelConfig& config) : config_(config) {}

  absl::StatusOr<TrainReport> Update(const SegmentInput& input, const EpochCallback& on_epoch) override;
  absl::StatusOr<Embeddings> ExportEmbeddings() const override;
  absl::Status Score(const std::vector<int32_t>& users, std::vector<float>* out) const override;
  absl::Status Save(const std::string& path) const override;
  const ModelConfig& config() const override { return config_; }
  int segments_seen() const override { return segments_; }

  absl::StatusOr<double> Recompute();
  void SetEpochs(int max_epochs, int min_epochs) {
    config_.max_epochs = max_epochs;
    config_.min_epochs = min_epochs;
  }
  absl::Status Restore(const CheckpointContents& c);

 private:
  absl::Status ValidateInput(const SegmentInput& input) const;
  // false: cancelled through `cancel` before finishing.
  bool Train(const BipartiteCsr& g, const NormAdjacency& adj, const std::vector<int32_t>& pos_users,
             const std::vector<int32_t>& pos_items, const ValidSet& valid, bool prompt_tuning,
             const std::atomic<bool>* cancel, const EpochCallback& on_epoch, TrainReport* report);
  // Computes z over the last graph and publishes it for Score/ExportEmbeddings.
  void PublishEmbeddings();
  void SetGraph(Graph graph);

  ModelConfig config_;
  int segments_ = 0;
  Gpt4RecNet net_{nullptr};  // null until the first trained segment (and for pop)
  Graph graph_;                           // the last accumulated graph
  std::unique_ptr<BipartiteCsr> bip_;     // its prepared form
  std::unique_ptr<NormAdjacency> adj_;    // and its Â (autograd keeps a pointer to it during training)

  mutable std::shared_mutex mu_;          // guards the serving cache below
  torch::Tensor z_users_, z_items_, user_mean_;
};

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

absl::StatusOr<TrainReport> ModelImpl::Update(const SegmentInput& input, const EpochCallback& on_epoch) {
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
      if (s == Strategy::kGpt4Rec) report.mode = TrainMode::kPromptTuning;
    }
    if (report.mode != TrainMode::kNone) {
      ValidSet valid = GroupValid(input.valid, g.num_users, g.num_items);
      // The epochs' draws (shuffles) get their own seed, so they do not depend on how many prompt tensors the
      // network drew at creation: GPT4Rec's backbone-only segment 0 is then Finetune's, bitwise.
      torch::manual_seed(MixSeed(config_.seed ^ 0x7e57, static_cast<uint64_t>(segments_)));
      if (!Train(*bip, *adj, pos_u, pos_i, valid, report.mode == TrainMode::kPromptTuning, input.cancel, on_epoch, &report)) {
        return absl::CancelledError(absl::StrCat("training of segment ", segments_, " was cancelled"));
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

bool ModelImpl::Train(const BipartiteCsr& g, const NormAdjacency& adj, const std::vector<int32_t>& pos_users,
                      const std::vector<int32_t>& pos_items, const ValidSet& valid, bool prompt_tuning,
                      const std::atomic<bool>* cancel, const EpochCallback& on_epoch, TrainReport* report) {
  // Parameter groups. Prompt tuning: prompts at prompt_lr, new rows at new_embedding_lr (default prompt_lr), old
  // rows at old_embedding_lr; the backbone (and old rows when old_embedding_lr is 0) is frozen — not given to the
  // optimiser, requires_grad off, so it stays bitwise unchanged. Otherwise everything trains at lr, except the
  // temporal prompts, which stay at the identity outside prompt tuning.
  std::vector<torch::Tensor> main_group, old_group, new_group;
  std::vector<torch::Tensor*> trainable;  // the module's parameters are handles sharing their storage
  auto use = [&](torch::Tensor* t, bool train, std::vector<torch::Tensor>* group) {
    t->set_requires_grad(train);
    if (train) {
      group->push_back(*t);
      trainable.push_back(t);
    }
  };
  auto backbone = net_->BackboneParameters(), prompts = net_->PromptParameters(),
       temporal = net_->TemporalPromptParameters();
  for (auto& t : backbone) use(&t, !prompt_tuning && config_.view_projection, &main_group);
  // Segment 0 of GPT4Rec pre-trains the backbone alone unless prompts_in_segment0: the prompts stay at their
  // identity start and forward skips them (the same network as Finetune's, at its cost).
  const bool train_prompts = prompt_tuning || config_.prompts_in_segment0;
  net_->prompts_on = train_prompts;
  for (auto& t : prompts) use(&t, train_prompts, &main_group);
  for (auto& t : temporal) use(&t, prompt_tuning, &main_group);
  const bool train_old = !prompt_tuning || config_.old_embedding_lr > 0;
  const bool own_new_rate = prompt_tuning && config_.new_embedding_lr > 0;
  use(&net_->user_new, true, own_new_rate ? &new_group : &main_group);
  use(&net_->item_new, true, own_new_rate ? &new_group : &main_group);
  use(&net_->user_old, train_old, prompt_tuning ? &old_group : &main_group);
  use(&net_->item_old, train_old, prompt_tuning ? &old_group : &main_group);

  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(main_group,
                      std::make_unique<torch::optim::AdamOptions>(prompt_tuning ? config_.prompt_lr : config_.lr));
  if (!old_group.empty())
    groups.emplace_back(old_group, std::make_unique<torch::optim::AdamOptions>(config_.old_embedding_lr));
  if (!new_group.empty())
    groups.emplace_back(new_group, std::make_unique<torch::optim::AdamOptions>(config_.new_embedding_lr));
  torch::optim::Adam opt(groups, torch::optim::AdamOptions(config_.lr));

  const int64_t P = static_cast<int64_t>(pos_users.size());
  const int64_t U = g.num_users;
  const int neg = config_.negatives;
  const bool has_valid = !valid.users.empty();
  double best = -1, best_se = 0;
  int bad = 0;
  std::vector<torch::Tensor> best_state;
  std::vector<int32_t> ep_users(P), ep_items(P);
  std::vector<int64_t> ep_neg(P * neg);
  const uint64_t seg_seed = MixSeed(config_.seed ^ 0x5a5a, static_cast<uint64_t>(segments_));

  for (int epoch = 1; epoch <= config_.max_epochs && P > 0 && g.num_items > 0; ++epoch) {
    const auto te = Clock::now();
    auto perm = torch::randperm(P, torch::kLong);
    const int64_t* pp = perm.data_ptr<int64_t>();
    for (int64_t k = 0; k < P; ++k) {
      ep_users[k] = pos_users[pp[k]];
      ep_items[k] = pos_items[pp[k]];
    }
    // Fixed 8192-positive chunks with their own seeds: the same negatives for any thread count.
    const int64_t chunk = 8192;
    const uint64_t ep_seed = MixSeed(seg_seed, static_cast<uint64_t>(epoch));
    at::parallel_for(0, (P + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        SampleNegatives(g, ep_users.data(), c * chunk, std::min(P, (c + 1) * chunk), neg,
                        MixSeed(ep_seed, static_cast<uint64_t>(c)), ep_neg.data());
    });
    double loss_sum = 0;
    for (int64_t b0 = 0; b0 < P; b0 += config_.batch_size) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return false;
      const int64_t B = std::min<int64_t>(config_.batch_size, P - b0);
      auto bu = torch::from_blob(ep_users.data() + b0, {B}, torch::kInt32).to(torch::kLong);
      auto bi = torch::from_blob(ep_items.data() + b0, {B}, torch::kInt32).to(torch::kLong) + U;
      auto bj = torch::from_blob(ep_neg.data() + b0 * neg, {B * neg}, torch::kLong) + U;
      auto z = net_->forward(adj);
      auto zu = z.index_select(0, bu);
      auto zi = z.index_select(0, bi);
      auto zj = z.index_select(0, bj).view({B, neg, -1});
      auto pos = (zu * zi).sum(-1, true);                   // [B,1]
      auto negs = (zu.unsqueeze(1) * zj).sum(-1);           // [B,neg]
      auto bpr = -torch::log_sigmoid(pos - negs).mean();
      torch::Tensor reg;
      if (config_.l2_on_ego) {  // LightGCN's form: the batch's layer-0 ID rows
        auto e = net_->Ego();
        reg = (e.index_select(0, bu).pow(2).sum() + e.index_select(0, bi).pow(2).sum() +
               e.index_select(0, bj).pow(2).sum() / neg) /
              (2.0 * B);
      } else {
        reg = (zu.pow(2).sum() + zi.pow(2).sum() + zj.pow(2).sum() / neg) / (2.0 * B);
      }
      auto loss = bpr + config_.l2 * reg;
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>() * B;
    }
    EpochLog log;
    log.epoch = epoch;
    log.loss = loss_sum / P;
    log.train_seconds = Since(te);
    if (has_valid) {
      torch::NoGradGuard no_grad;
      const ValidScore score = ValidRecall20(net_->forward(adj), g, valid);
      log.valid_recall20 = score.recall20;
      log.valid_standard_error = score.standard_error;
    }
    log.seconds = Since(te);
    report->log.push_back(log);
    report->epochs = epoch;
    report->final_loss = log.loss;
    if (on_epoch) on_epoch(log);
    if (!has_valid) {
      report->best_epoch = epoch;
      continue;
    }
    // The best epoch's parameters are kept. Stopping needs `patience` epochs without a new best, min_epochs
    // done, and (early_stop_se > 0) the last epoch below the best by more than early_stop_se standard errors of
    // the best's mean: on a small validation split a dip within the noise is not a reason to stop.
    if (log.valid_recall20 > best) {
      best = log.valid_recall20;
      best_se = log.valid_standard_error;
      report->best_epoch = epoch;
      report->best_valid_recall20 = best;
      bad = 0;
      best_state.clear();
      for (auto* t : trainable) best_state.push_back(t->detach().clone());
    } else if (++bad >= std::max(1, config_.patience) && epoch >= config_.min_epochs &&
               (config_.early_stop_se <= 0 || log.valid_recall20 < best - config_.early_stop_se * best_se)) {
      break;
    }
  }
  // Keep the best validation epoch's parameters.
  torch::NoGradGuard no_grad;
  if (!best_state.empty() && report->best_epoch != report->epochs)
    for (size_t k = 0; k < trainable.size(); ++k) trainable[k]->copy_(best_state[k]);
  net_->prompts_on = true;
  for (auto* t : trainable) t->mutable_grad().reset();
  for (auto& t : net_->parameters()) t.set_requires_grad(false);
  for (torch::Tensor* t : {&net_->user_old, &net_->user_new, &net_->item_old, &net_->item_new}) *t = t->detach();
  return true;
}

void ModelImpl::PublishEmbeddings() {
  torch::NoGradGuard no_grad;
  torch::Tensor zu, zi;
  if (config_.strategy == Strategy::kPop) {
    // Popularity as a 1-dim embedding: users are all 1, items carry their degree; score = degree.
    zu = torch::ones({graph_.num_users, 1});
    zi = torch::empty({graph_.num_items, 1});
    float* p = zi.data_ptr<float>();
    for (int32_t i = 0; i < graph_.num_items; ++i) p[i] = static_cast<float>(bip_->item_ptr[i + 1] - bip_->item_ptr[i]);
  } else {
    auto z = net_->forward(*adj_);
    zu = z.slice(0, 0, graph_.num_users).contiguous();
    zi = z.slice(0, graph_.num_users).contiguous();
  }
  auto mean = zu.size(0) > 0 ? zu.mean(0) : torch::zeros({zi.size(1)});
  std::unique_lock lock(mu_);
  z_users_ = zu;
  z_items_ = zi;
  user_mean_ = mean;
}

absl::StatusOr<double> ModelImpl::Recompute() {
  if (!adj_) return absl::FailedPreconditionError("RecomputeEmbeddings: no Update yet");
  const auto t0 = Clock::now();
  ApplyThreads(config_);
  PublishEmbeddings();
  return Since(t0);
}

absl::StatusOr<Embeddings> ModelImpl::ExportEmbeddings() const {
  std::shared_lock lock(mu_);
  if (!z_users_.defined()) return absl::FailedPreconditionError("ExportEmbeddings: no Update yet");
  Embeddings e;
  e.num_users = static_cast<int32_t>(z_users_.size(0));
  e.num_items = static_cast<int32_t>(z_items_.size(0));
  e.dim = static_cast<int32_t>(z_items_.size(1));
  e.users.assign(z_users_.data_ptr<float>(), z_users_.data_ptr<float>() + z_users_.numel());
  e.items.assign(z_items_.data_ptr<float>(), z_items_.data_ptr<float>() + z_items_.numel());
  return e;
}

absl::Status ModelImpl::Score(const std::vector<int32_t>& users, std::vector<float>* out) const {
  std::shared_lock lock(mu_);
  if (!z_users_.defined()) return absl::FailedPreconditionError("Score: no Update yet");
  for (size_t k = 0; k < users.size(); ++k)
    if (users[k] < 0) return absl::InvalidArgumentError(absl::StrCat("users[", k, "]: negative id ", users[k]));
  torch::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(users.size()), I = z_items_.size(0), U = z_users_.size(0);
  auto q = torch::empty({n, z_items_.size(1)});
  for (int64_t k = 0; k < n; ++k) q[k].copy_(users[k] < U ? z_users_[users[k]] : user_mean_);
  out->assign(static_cast<size_t>(n * I), 0.f);
  if (n == 0 || I == 0) return absl::OkStatus();
  auto result = torch::from_blob(out->data(), {n, I});
  torch::mm_out(result, q, z_items_.t());
  return absl::OkStatus();
}

absl::Status ModelImpl::Save(const std::string& path) const {
  CheckpointContents c;
  c.config_text = EncodeConfig(config_);
  c.counters["segments_seen"] = segments_;
  c.counters["has_net"] = net_ ? 1 : 0;
  c.counters["num_users"] = graph_.num_users;
  c.counters["num_items"] = graph_.num_items;
  if (!graph_.indptr.empty()) {
    c.arrays["graph_indptr"] =
        ToBlob(torch::from_blob(const_cast<int64_t*>(graph_.indptr.data()), {(int64_t)graph_.indptr.size()}, torch::kInt64));
    c.arrays["graph_indices"] = ToBlob(
        torch::from_blob(const_cast<int32_t*>(graph_.indices.data()), {(int64_t)graph_.indices.size()}, torch::kInt32));
    if (!graph_.edge_age.empty())
      c.arrays["graph_edge_age"] = ToBlob(torch::from_blob(const_cast<int32_t*>(graph_.edge_age.data()),
                                                           {(int64_t)graph_.edge_age.size()}, torch::kInt32));
  }
  if (net_) {
    c.arrays["user_emb"] = ToBlob(torch::cat({net_->user_old, net_->user_new}, 0));
    c.arrays["item_emb"] = ToBlob(torch::cat({net_->item_old, net_->item_new}, 0));
    for (const auto& [name, t] : net_->CheckpointTensors()) c.arrays[name] = ToBlob(t);
  }
  {
    std::shared_lock lock(mu_);
    if (z_users_.defined()) {
      c.arrays["z_users"] = ToBlob(z_users_);
      c.arrays["z_items"] = ToBlob(z_items_);
      c.arrays["z_user_mean"] = ToBlob(user_mean_);
    }
  }
  return WriteCheckpointFile(path, c);
}

absl::Status ModelImpl::Restore(const CheckpointContents& c) {
  auto counter = [&](const char* name) -> int64_t {
    auto it = c.counters.find(name);
    return it == c.counters.end() ? 0 : it->second;
  };
  auto array = [&](const std::string& name) -> absl::StatusOr<torch::Tensor> {
    auto it = c.arrays.find(name);
    if (it == c.arrays.end()) return absl::DataLossError(absl::StrCat("checkpoint: missing array ", name));
    return FromBlob(it->second);
  };
  segments_ = static_cast<int>(counter("segments_seen"));
  const bool has_net = counter("has_net") != 0;
  Graph g;
  g.num_users = static_cast<int32_t>(counter("num_users"));
  g.num_items = static_cast<int32_t>(counter("num_items"));
  if (c.arrays.count("graph_indptr")) {
    auto ip = array("graph_indptr");
    auto ix = array("graph_indices");
    if (!ip.ok()) return ip.status();
    if (!ix.ok()) return ix.status();
    g.indptr.assign(ip->data_ptr<int64_t>(), ip->data_ptr<int64_t>() + ip->numel());
    g.indices.assign(ix->data_ptr<int32_t>(), ix->data_ptr<int32_t>() + ix->numel());
    if (c.arrays.count("graph_edge_age")) {
      auto ag = array("graph_edge_age");
      if (!ag.ok()) return ag.status();
      g.edge_age.assign(ag->data_ptr<int32_t>(), ag->data_ptr<int32_t>() + ag->numel());
    }
    if (auto st = ValidateGraph(g); !st.ok()) return absl::DataLossError(absl::StrCat("checkpoint graph: ", st.message()));
    SetGraph(std::move(g));
  }
  if (has_net) {
    torch::manual_seed(0);
    net_ = Gpt4RecNet(ShapeFor(config_), 0, 0);
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : net_->CheckpointTensors()) {
      // Checkpoints written before the temporal prompts existed: they start at the identity.
      if (Gpt4RecNetImpl::AddedAfterV1(name) && !c.arrays.count(name)) continue;
      auto a = array(name);
      if (!a.ok()) return a.status();
      if (a->sizes() != t.sizes())
        return absl::DataLossError(absl::StrCat("checkpoint: array ", name, " has the wrong shape"));
      t.copy_(*a);
    }
    auto ue = array("user_emb");
    auto ie = array("item_emb");
    if (!ue.ok()) return ue.status();
    if (!ie.ok()) return ie.status();
    net_->user_new = *ue;
    net_->item_new = *ie;
    net_->MergeRows();
  }
  if (c.arrays.count("z_users")) {
    auto zu = array("z_users"), zi = array("z_items"), zm = array("z_user_mean");
    if (!zu.ok() || !zi.ok() || !zm.ok()) return absl::DataLossError("checkpoint: incomplete embeddings");
    std::unique_lock lock(mu_);
    z_users_ = *zu;
    z_items_ = *zi;
    user_mean_ = *zm;
  }
  return absl::OkStatus();
}

}  // namespace

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

}  // namespace gpt4rec::model
