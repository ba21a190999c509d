// Erasure that survives a crash. DeleteUser removes the user from the store first (durable) and zeroes their
// rows in the model files after it; a replica adopting a published model writes the published files first and
// zeroes the rows of its deleted users after that. A process killed in between restarts with a model.ckpt and a
// serving.bin that still hold a deleted user's row, so start-up zeroes them again, from the store's list.
#include <algorithm>
#include <utility>
#include <vector>

#include "server/engine.h"
#include "server/serving_file.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {

std::vector<uint32_t> DeletedUsers(const storage::GraphStore& store) {
  std::vector<uint32_t> gone;
  const uint32_t users = store.UserIdSpace();
  for (uint32_t u = 0; u < users; ++u) {
    if (absl::IsNotFound(store.UserName(u).status())) gone.push_back(u);
  }
  return gone;
}

absl::StatusOr<bool> EraseUsersInModelFiles(const std::vector<uint32_t>& users, model::RecommenderModel* model,
                                            const std::string& checkpoint_path, ServingFile* file,
                                            const std::string& serving_path) {
  if (users.empty()) return false;
  bool in_file = false;
  for (uint32_t u : users) {
    if (absl::Status s = model->EraseUser(static_cast<int32_t>(u)); !s.ok()) return s;
    if (file == nullptr || static_cast<int32_t>(u) >= file->num_users) continue;
    std::fill_n(file->users.begin() + static_cast<size_t>(u) * file->dim, file->dim, 0.0f);
    if (file->views > 0) {
      std::fill_n(file->user_view_weights.begin() + static_cast<size_t>(u) * file->views, file->views, 0.0f);
    }
    in_file = true;
  }
  if (absl::Status s = model->Save(checkpoint_path); !s.ok()) return s;
  if (in_file) {
    if (absl::Status s = WriteServingFile(serving_path, *file); !s.ok()) return s;
  }
  return true;
}

absl::Status EraseDeletedRowsAtStart(const storage::GraphStore& store, model::RecommenderModel* model,
                                     const std::string& checkpoint_path, ServingFile* file,
                                     const std::string& serving_path) {
  if (model->segments_seen() == 0) return absl::OkStatus();  // nothing trained, nothing to erase
  const std::vector<uint32_t> gone = DeletedUsers(store);
  // Rows still present: the serving file tells (every completed erasure zeroed its row there last). Without a
  // serving file the model's rows are re-exported for serving, so the checkpoint's published rows decide.
  model::Embeddings exported;
  if (file == nullptr) {
    auto e = model->ExportEmbeddings();
    if (!e.ok()) return e.status();
    exported = std::move(*e);
  }
  const std::vector<float>& rows = file != nullptr ? file->users : exported.users;
  const int32_t num_users = file != nullptr ? file->num_users : exported.num_users;
  const int32_t dim = file != nullptr ? file->dim : exported.dim;
  std::vector<uint32_t> left;
  for (uint32_t u : gone) {
    if (static_cast<int32_t>(u) >= num_users) continue;
    const auto row = rows.begin() + static_cast<size_t>(u) * dim;
    if (std::any_of(row, row + dim, [](float x) { return x != 0.0f; })) left.push_back(u);
  }
  auto erased = EraseUsersInModelFiles(left, model, checkpoint_path, file, serving_path);
  if (!erased.ok()) return erased.status();
  if (!*erased) return absl::OkStatus();
  spdlog::warn("start-up: {} deleted users still had rows in the model files (a process killed during their "
               "erasure); zeroed and rewritten", left.size());
  return absl::OkStatus();
}

}  // namespace gpt4rec::server
