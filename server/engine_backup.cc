// Backups (the Snapshot RPC): a RocksDB checkpoint of the store into <dir>/graph and copies of the model
// directory's files into <dir>/model, consistent with each other.
#include "server/engine.h"

#include <ctime>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace fs = std::filesystem;

absl::StatusOr<BackupResult> Engine::Backup(const std::string& requested_dir) {
  std::string dir = requested_dir;
  if (dir.empty()) {
    dir = (fs::path(options_.data_dir) / "snapshots" / std::to_string(std::time(nullptr))).string();
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) return absl::AlreadyExistsError(absl::StrCat("dir: ", dir, " already exists"));
  fs::create_directories(fs::path(dir) / "model", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("dir: cannot create ", dir, ": ", ec.message()));
  if (absl::Status s = store_->Checkpoint((fs::path(dir) / "graph").string()); !s.ok()) return s;
  BackupResult result;
  result.dir = dir;
  {
    // Model files are consistent with each other while the trainer cannot write them.
    std::lock_guard<std::mutex> lock(trainer_->files_mutex());
    for (const char* name : ModelDir::kFiles) {
      const fs::path from = fs::path(model_dir_.dir) / name;
      if (!fs::exists(from)) continue;
      fs::copy_file(from, fs::path(dir) / "model" / name, ec);
      if (ec) return absl::InternalError(absl::StrCat("copy ", from.string(), ": ", ec.message()));
    }
    result.model_version = serving()->version;
  }
  result.events = store_->GetCounts().events;
  spdlog::info("backup written to {} ({} events, model version {})", dir, result.events, result.model_version);
  return result;
}

}  // namespace gpt4rec::server
