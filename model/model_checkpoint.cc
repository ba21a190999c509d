// Save and Restore: config text, counters, every parameter, the last graph and the published representations.
#include "absl/strings/str_cat.h"
#include "model/model_impl.h"
#include <mutex>

#include "model/tensor_blob.h"

namespace gpt4rec::model {

absl::Status ModelImpl::SaveUnguarded(const std::string& path) const {
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
    if (gamma_users_.defined()) c.arrays["z_user_view_gamma"] = ToBlob(gamma_users_);
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
    // Checkpoints written before the view weights were published lack the array: ExportEmbeddings reports
    // uniform weights for them until the next Update publishes real ones.
    gamma_users_ = torch::Tensor();
    if (c.arrays.count("z_user_view_gamma")) {
      auto zg = array("z_user_view_gamma");
      if (!zg.ok()) return zg.status();
      if (zg->dim() != 2 || zg->size(0) != zu->size(0))
        return absl::DataLossError("checkpoint: array z_user_view_gamma has the wrong shape");
      gamma_users_ = *zg;
    }
  }
  return absl::OkStatus();
}

}  // namespace gpt4rec::model
