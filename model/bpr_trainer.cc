// The epochs of one segment for every strategy: parameter groups, BPR steps, early stopping (design page §2.6, §3).
#include <optional>

#include "absl/strings/str_cat.h"
#include "model/model_impl.h"
#include "model/positive_edge_mask.h"

namespace gpt4rec::model {

bool ModelImpl::Train(const BipartiteCsr& g, const NormAdjacency& adj, const std::vector<int32_t>& pos_users,
                      const std::vector<int32_t>& pos_items, const ValidSet& valid, TrainPhase phase,
                      const LspTargets* lsp, const std::atomic<bool>* cancel, const EpochCallback& on_epoch,
                      TrainReport* report) {
  // Parameter groups. Prompt tuning: prompts at prompt_lr, new rows at new_embedding_lr (0: prompt_lr), old rows
  // at old_embedding_lr; the backbone (and old rows when old_embedding_lr is 0) is frozen — not given to the
  // optimiser, requires_grad off, so it stays bitwise unchanged. Otherwise everything trains at lr, except the
  // temporal prompts, which stay at the identity outside prompt tuning.
  std::vector<torch::Tensor> main_group, old_group, new_group, gate_group;
  std::vector<torch::Tensor*> trainable;  // the module's parameters are handles sharing their storage
  auto use = [&](torch::Tensor* t, bool train, std::vector<torch::Tensor>* group) {
    t->set_requires_grad(train);
    if (train) {
      group->push_back(*t);
      trainable.push_back(t);
    }
  };
  const bool prompt_tuning = phase != TrainPhase::kFull;
  const bool prompt_phase = phase == TrainPhase::kPrompts;
  auto backbone = net_->BackboneParameters(), prompts = net_->PromptParameters(),
       temporal = net_->TemporalPromptParameters();
  for (auto& t : backbone) use(&t, !prompt_tuning && config_.view_projection, &main_group);
  // Segment 0 of GPT4Rec pre-trains the backbone alone unless prompts_in_segment0: the prompts stay at their
  // identity start and forward skips them (the same network as Finetune's, at its cost).
  const bool train_prompts = prompt_tuning || config_.prompts_in_segment0;
  net_->prompts_on = train_prompts;
  // The paper's three prompts: in the prompt phase alone (at prompt_phase_lr), or in the row phase too.
  const bool train_paper_prompts = train_prompts && (phase != TrainPhase::kRows || config_.row_phase_prompts);
  net_->paper_prompts_on = train_paper_prompts;
  // The gates (everything but the prompt vectors P, S) at their own rate in prompt tuning when gate_lr > 0.
  const bool own_gate_rate = phase == TrainPhase::kRows && config_.gate_lr > 0;
  auto gate_or_main = [&](const torch::Tensor& t) {
    return own_gate_rate && !net_->IsPromptVector(t) ? &gate_group : &main_group;
  };
  for (auto& t : prompts) use(&t, train_paper_prompts, gate_or_main(t));
  // The temporal prompts at their own rate when temporal_lr > 0 (they are few logits, each reweighting a whole
  // class of edges or layers), else as the other gates. Frozen in the prompt phase, like the rows.
  std::vector<torch::Tensor> temporal_group;
  const bool own_temporal_rate = prompt_tuning && config_.temporal_lr > 0;
  for (auto& t : temporal) use(&t, phase == TrainPhase::kRows, own_temporal_rate ? &temporal_group : gate_or_main(t));
  const bool train_old = !prompt_tuning || (!prompt_phase && config_.old_embedding_lr > 0);
  const bool own_new_rate = prompt_tuning && config_.new_embedding_lr > 0;
  use(&net_->user_new, !prompt_phase, own_new_rate ? &new_group : &main_group);
  use(&net_->item_new, !prompt_phase, own_new_rate ? &new_group : &main_group);
  use(&net_->user_old, train_old, prompt_tuning ? &old_group : &main_group);
  use(&net_->item_old, train_old, prompt_tuning ? &old_group : &main_group);

  std::vector<torch::optim::OptimizerParamGroup> groups;
  const double main_lr = prompt_phase ? config_.prompt_phase_lr : prompt_tuning ? config_.prompt_lr : config_.lr;
  groups.emplace_back(main_group, std::make_unique<torch::optim::AdamOptions>(main_lr));
  if (!old_group.empty())
    groups.emplace_back(old_group, std::make_unique<torch::optim::AdamOptions>(config_.old_embedding_lr));
  if (!gate_group.empty())
    groups.emplace_back(gate_group, std::make_unique<torch::optim::AdamOptions>(config_.gate_lr));
  if (!temporal_group.empty())
    groups.emplace_back(temporal_group, std::make_unique<torch::optim::AdamOptions>(config_.temporal_lr));
  if (!new_group.empty())
    groups.emplace_back(new_group, std::make_unique<torch::optim::AdamOptions>(config_.new_embedding_lr));
  torch::optim::Adam opt(groups, torch::optim::AdamOptions(config_.lr));

  const int64_t P = static_cast<int64_t>(pos_users.size());
  const int64_t U = g.num_users;
  const int neg = config_.negatives;
  int64_t batch_size = config_.batch_size;
  if (config_.min_batches > 0 && P > 0)
    batch_size = std::min<int64_t>(batch_size, (P + config_.min_batches - 1) / config_.min_batches);
  const bool has_valid = !valid.users.empty();
  double best = -1, best_se = 0;
  int bad = 0;
  std::vector<double> recent;  // the last valid_window epochs' validation Recall@20, oldest first
  std::vector<torch::Tensor> best_state;
  std::vector<int32_t> ep_users(P), ep_items(P);
  std::vector<int64_t> ep_neg(P * neg);
  // leave_out_positives: each step's forward runs on the graph without the step's own positive edges (needs the
  // edge buckets, which a graph has from segment 1 on when it carries edge ages).
  std::optional<PositiveEdgeMask> mask;
  if (config_.leave_out_positives && adj.entry_bucket.defined()) mask.emplace(g, adj);
  const uint64_t seg_seed =
      MixSeed(config_.seed ^ (prompt_phase ? 0x9a5e : 0x5a5a), static_cast<uint64_t>(segments_));
  // The prompt phase continues the segment's report (its epochs count on from the row phase's) and starts from
  // the row phase's model as the best so far, so it keeps that model unless an epoch beats it on validation.
  const int epoch0 = prompt_phase ? report->epochs : 0;
  const int max_epochs = prompt_phase ? config_.prompt_phase_epochs : config_.max_epochs;
  const int min_epochs = prompt_phase ? 1 : config_.min_epochs;
  if (prompt_phase && has_valid) {
    torch::NoGradGuard no_grad;
    best = ValidRecall20(net_->forward(adj), g, valid).recall20;
    recent.push_back(best);
    for (auto* t : trainable) best_state.push_back(t->detach().clone());
  }

  for (int epoch = 1; epoch <= max_epochs && P > 0 && g.num_items > 0; ++epoch) {
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
    for (int64_t b0 = 0; b0 < P; b0 += batch_size) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return false;
      if (throw_on_next_step_) {
        throw_on_next_step_ = false;
        TORCH_CHECK(false, "injected failure of a training step (test seam)");
      }
      const int64_t B = std::min<int64_t>(batch_size, P - b0);
      auto bu = torch::from_blob(ep_users.data() + b0, {B}, torch::kInt32).to(torch::kLong);
      auto bi = torch::from_blob(ep_items.data() + b0, {B}, torch::kInt32).to(torch::kLong) + U;
      auto bj = torch::from_blob(ep_neg.data() + b0 * neg, {B * neg}, torch::kLong) + U;
      torch::Tensor e;  // the ID table this step's forward used
      if (mask) mask->Mask(ep_users.data() + b0, ep_items.data() + b0, B);
      auto z = net_->forward(mask ? mask->adjacency() : adj, &e);
      auto zu = z.index_select(0, bu);
      auto zi = z.index_select(0, bi);
      auto zj = z.index_select(0, bj).view({B, neg, -1});
      auto pos = (zu * zi).sum(-1, true);                   // [B,1]
      auto negs = (zu.unsqueeze(1) * zj).sum(-1);           // [B,neg]
      auto bpr = -torch::log_sigmoid(pos - negs).mean();
      torch::Tensor reg;
      if (config_.l2_on_ego) {  // LightGCN's form: the batch's layer-0 ID rows
        reg = (e.index_select(0, bu).pow(2).sum() + e.index_select(0, bi).pow(2).sum() +
               e.index_select(0, bj).pow(2).sum() / neg) /
              (2.0 * B);
      } else {
        reg = (zu.pow(2).sum() + zi.pow(2).sum() + zj.pow(2).sum() / neg) / (2.0 * B);
      }
      auto loss = bpr + config_.l2 * reg;
      if (lsp != nullptr && config_.lsp_weight > 0) {  // lsp: the batch's old users and items (ids per side)
        loss = loss + config_.lsp_weight *
                          LspLoss(net_->user_old, net_->item_old, *lsp, bu, torch::cat({bi, bj}) - U);
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (mask) mask->Restore();
      loss_sum += loss.item<double>() * B;
    }
    EpochLog log;
    log.epoch = epoch0 + epoch;
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
    report->epochs = epoch0 + epoch;
    report->final_loss = log.loss;
    if (on_epoch) on_epoch(log);
    if (!has_valid) {
      report->best_epoch = epoch0 + epoch;
      continue;
    }
    // The best epoch's parameters are kept; "best" is by the mean over the last valid_window epochs, so the kept
    // epoch ends the best window. Stopping needs `patience` epochs without a new best, min_epochs done, and
    // (early_stop_se > 0) that mean below the best by more than early_stop_se standard errors of the best
    // epoch's figure: on a small validation split a dip within the noise is not a reason to stop.
    recent.push_back(log.valid_recall20);
    if (static_cast<int>(recent.size()) > config_.valid_window) recent.erase(recent.begin());
    double smoothed = 0;
    for (double v : recent) smoothed += v;
    smoothed /= static_cast<double>(recent.size());
    if (smoothed > best) {
      best = smoothed;
      best_se = log.valid_standard_error;
      report->best_epoch = epoch0 + epoch;
      report->best_valid_recall20 = log.valid_recall20;
      bad = 0;
      best_state.clear();
      for (auto* t : trainable) best_state.push_back(t->detach().clone());
    } else if (++bad >= std::max(1, config_.patience) && epoch >= min_epochs &&
               (config_.early_stop_se <= 0 || smoothed < best - config_.early_stop_se * best_se)) {
      break;
    }
  }
  // Keep the best validation epoch's parameters.
  torch::NoGradGuard no_grad;
  if (!best_state.empty() && report->best_epoch != report->epochs)
    for (size_t k = 0; k < trainable.size(); ++k) trainable[k]->copy_(best_state[k]);
  net_->prompts_on = true;
  net_->paper_prompts_on = true;
  for (auto* t : trainable) t->mutable_grad().reset();
  for (auto& t : net_->parameters()) t.set_requires_grad(false);
  for (torch::Tensor* t : {&net_->user_old, &net_->user_new, &net_->item_old, &net_->item_new}) *t = t->detach();
  return true;
}

}  // namespace gpt4rec::model
