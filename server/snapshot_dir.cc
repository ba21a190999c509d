#include "server/snapshot_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/model_dir.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace fs = std::filesystem;

absl::Status CheckDataDir(const std::string& data_dir) {
  const fs::path root(data_dir);
  std::error_code ec;
  if (fs::exists(root / kSnapshotIncomplete, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        data_dir, " is an interrupted snapshot (", kSnapshotIncomplete,
        " present): it may miss data; take the snapshot again, or start from a complete one"));
  }
  // RocksDB's CURRENT file exists in every opened store: a graph/ without it is no store.
  if (fs::exists(root / "graph" / "CURRENT", ec)) return absl::OkStatus();
  std::vector<std::string> found;
  for (const char* name : ModelDir::kFiles) {
    if (fs::exists(root / "model" / name, ec)) found.push_back(absl::StrCat("model/", name));
  }
  if (fs::exists(root / kSnapshotComplete, ec)) found.push_back(kSnapshotComplete);
  if (found.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "--data_dir=", data_dir, " holds ", absl::StrJoin(found, ", "), " but no graph store (graph/CURRENT): "
      "refusing to start with a fresh empty store in place of lost data; restore graph/ (e.g. from a snapshot) "
      "or remove those files to start empty"));
}

int RemovePartialSnapshots(const std::string& data_dir) {
  const fs::path snapshots = fs::path(data_dir) / "snapshots";
  std::error_code ec;
  if (!fs::is_directory(snapshots, ec)) return 0;
  std::vector<fs::path> partial;
  for (const auto& entry : fs::directory_iterator(snapshots, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > sizeof(kPartialSuffix) - 1 &&
        name.compare(name.size() - (sizeof(kPartialSuffix) - 1), std::string::npos, kPartialSuffix) == 0) {
      partial.push_back(entry.path());
    }
  }
  for (const auto& p : partial) {
    spdlog::warn("removing interrupted snapshot {}", p.string());
    fs::remove_all(p, ec);
  }
  return static_cast<int>(partial.size());
}

absl::StatusOr<std::string> ChooseSnapshotDir(const std::string& data_dir, const std::string& requested) {
  std::error_code ec;
  if (!requested.empty()) {
    if (fs::exists(requested, ec)) return absl::AlreadyExistsError(absl::StrCat("dir: ", requested, " already exists"));
    return requested;
  }
  const std::string base = (fs::path(data_dir) / "snapshots" / std::to_string(std::time(nullptr))).string();
  std::string dir = base;
  for (int n = 1; fs::exists(dir, ec); ++n) dir = absl::StrCat(base, "-", n);
  return dir;
}

absl::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const bool dir = fs::is_directory(path);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && !(dir && err == EINVAL)) {
    return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace gpt4rec::server
