// The published representations that Score and ExportEmbeddings read while the next segment trains.
#include "absl/strings/str_cat.h"
#include "model/model_impl.h"
#include <mutex>

namespace gpt4rec::model {

void ModelImpl::PublishEmbeddings() {
  torch::NoGradGuard no_grad;
  torch::Tensor zu, zi, gu;
  if (config_.strategy == Strategy::kPop) {
    // Popularity as a 1-dim embedding: users are all 1, items carry their degree; score = degree. One view.
    zu = torch::ones({graph_.num_users, 1});
    zi = torch::empty({graph_.num_items, 1});
    float* p = zi.data_ptr<float>();
    for (int32_t i = 0; i < graph_.num_items; ++i) p[i] = static_cast<float>(bip_->item_ptr[i + 1] - bip_->item_ptr[i]);
    gu = torch::ones({graph_.num_users, 1});
  } else {
    torch::Tensor gamma;
    auto z = net_->forward(*adj_, nullptr, &gamma);
    zu = z.slice(0, 0, graph_.num_users).contiguous();
    zi = z.slice(0, graph_.num_users).contiguous();
    gu = gamma.slice(0, 0, graph_.num_users).contiguous();
  }
  auto mean = zu.size(0) > 0 ? zu.mean(0) : torch::zeros({zi.size(1)});
  std::unique_lock lock(mu_);
  z_users_ = zu;
  z_items_ = zi;
  user_mean_ = mean;
  gamma_users_ = gu;
}

absl::StatusOr<double> ModelImpl::Recompute() {
  if (!adj_) return absl::FailedPreconditionError("RecomputeEmbeddings: no Update yet");
  const auto t0 = Clock::now();
  ApplyThreads(config_);
  PublishEmbeddings();
  return Since(t0);
}

absl::Status ModelImpl::EraseUnguarded(int32_t user) {
  if (user < 0) return absl::InvalidArgumentError(absl::StrCat("EraseUser: negative id ", user));
  torch::NoGradGuard no_grad;
  if (net_) {
    const int64_t old_users = net_->user_old.size(0);
    if (user < old_users) {
      net_->user_old[user].zero_();
    } else if (user < net_->num_users()) {
      net_->user_new[user - old_users].zero_();
    }
  }
  // The stored training graph (written into the checkpoint, read back by the replay reservoirs) drops the user's
  // edges too, so no model file keeps whom they interacted with. The propagation matrix built from it is left
  // as it is: the next Update rebuilds it from a graph without the user.
  if (user + 1 < static_cast<int64_t>(graph_.indptr.size())) {
    const int64_t begin = graph_.indptr[user], end = graph_.indptr[user + 1], n = end - begin;
    if (n > 0) {
      graph_.indices.erase(graph_.indices.begin() + begin, graph_.indices.begin() + end);
      if (static_cast<int64_t>(graph_.edge_age.size()) >= end) {
        graph_.edge_age.erase(graph_.edge_age.begin() + begin, graph_.edge_age.begin() + end);
      }
      for (size_t u = static_cast<size_t>(user) + 1; u < graph_.indptr.size(); ++u) graph_.indptr[u] -= n;
    }
  }
  std::unique_lock lock(mu_);
  if (z_users_.defined() && user < z_users_.size(0)) z_users_[user].zero_();
  if (gamma_users_.defined() && user < gamma_users_.size(0)) gamma_users_[user].zero_();
  return absl::OkStatus();
}

absl::StatusOr<Embeddings> ModelImpl::ExportUnguarded() const {
  std::shared_lock lock(mu_);
  if (!z_users_.defined()) return absl::FailedPreconditionError("ExportEmbeddings: no Update yet");
  Embeddings e;
  e.num_users = static_cast<int32_t>(z_users_.size(0));
  e.num_items = static_cast<int32_t>(z_items_.size(0));
  e.dim = static_cast<int32_t>(z_items_.size(1));
  e.users.assign(z_users_.data_ptr<float>(), z_users_.data_ptr<float>() + z_users_.numel());
  e.items.assign(z_items_.data_ptr<float>(), z_items_.data_ptr<float>() + z_items_.numel());
  if (gamma_users_.defined() && gamma_users_.size(0) == z_users_.size(0)) {
    e.views = static_cast<int32_t>(gamma_users_.size(1));
    e.user_view_weights.assign(gamma_users_.data_ptr<float>(), gamma_users_.data_ptr<float>() + gamma_users_.numel());
  } else {
    // Restored from a checkpoint written before the table existed: uniform (documented on Embeddings).
    const int32_t k = config_.strategy == Strategy::kPop ? 1 : config_.views;
    e.views = k;
    e.user_view_weights.assign(static_cast<size_t>(e.num_users) * k, 1.0f / static_cast<float>(k));
  }
  return e;
}

absl::Status ModelImpl::ScoreUnguarded(const std::vector<int32_t>& users, std::vector<float>* out) const {
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

}  // namespace gpt4rec::model
