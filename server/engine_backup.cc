// Backups (the Snapshot RPC): a RocksDB checkpoint of the store into <dir>/graph and copies of the model
// directory's files into <dir>/model, consistent with each other, written under <dir>.partial and renamed to
// <dir> only when complete (server/snapshot_dir.h).
#include "server/engine.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/snapshot_dir.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace fs = std::filesystem;
namespace {

absl::Status WriteMarker(const fs::path& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("write ", path.string()));
  }
  return SyncPath(path.string());
}

}  // namespace

absl::StatusOr<BackupResult> Engine::Backup(const std::string& requested_dir) {
  // One snapshot at a time: the chosen name and its .partial belong to this call until it is done.
  std::lock_guard<std::mutex> backup_lock(backup_mu_);
  auto chosen = ChooseSnapshotDir(options_.data_dir, requested_dir);
  if (!chosen.ok()) return chosen.status();
  const fs::path dir(*chosen);
  const fs::path partial(*chosen + kPartialSuffix);
  std::error_code ec;
  if (fs::exists(partial, ec)) {
    spdlog::warn("removing interrupted snapshot {}", partial.string());
    fs::remove_all(partial, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot remove ", partial.string(), ": ", ec.message()));
  }
  fs::create_directories(partial / "model", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("dir: cannot create ", partial.string(), ": ", ec.message()));
  // Marked incomplete from its first moment: a server started on it refuses it, whatever point a kill hit.
  if (absl::Status s = WriteMarker(partial / kSnapshotIncomplete, "interrupted snapshot; do not restore\n"); !s.ok()) {
    return s;
  }
  auto fail = [&](absl::Status s) {
    fs::remove_all(partial, ec);
    return s;
  };
  if (absl::Status s = store_->Checkpoint((partial / "graph").string()); !s.ok()) return fail(s);
  BackupResult result;
  result.dir = dir.string();
  {
    // Model files are consistent with each other while the trainer cannot write them.
    std::lock_guard<std::mutex> lock(trainer_->files_mutex());
    for (const char* name : ModelDir::kFiles) {
      const fs::path from = fs::path(model_dir_.dir) / name;
      if (!fs::exists(from)) continue;
      const fs::path to = partial / "model" / name;
      fs::copy_file(from, to, ec);
      if (ec) return fail(absl::InternalError(absl::StrCat("copy ", from.string(), ": ", ec.message())));
      if (absl::Status s = SyncPath(to.string()); !s.ok()) return fail(s);
    }
    result.model_version = serving()->version;
  }
  result.events = store_->GetCounts().events;
  // Complete: the marker swap, then the atomic rename (each synced, so a power loss leaves one state or the other).
  if (absl::Status s = WriteMarker(partial / kSnapshotComplete,
                                   absl::StrCat("{\"events\": ", result.events, ", \"model_version\": ",
                                                result.model_version, "}\n"));
      !s.ok()) {
    return fail(s);
  }
  fs::remove(partial / kSnapshotIncomplete, ec);
  if (ec) return fail(absl::InternalError(absl::StrCat("remove marker: ", ec.message())));
  (void)SyncPath((partial / "model").string());
  (void)SyncPath(partial.string());
  fs::rename(partial, dir, ec);
  if (ec) return fail(absl::InternalError(absl::StrCat("rename ", partial.string(), " -> ", dir.string(), ": ",
                                                       ec.message())));
  (void)SyncPath(dir.parent_path().string());
  spdlog::info("backup written to {} ({} events, model version {})", dir.string(), result.events,
               result.model_version);
  return result;
}

}  // namespace gpt4rec::server
