#include "storage/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpt4rec::storage {

absl::StatusOr<uint64_t> FreeDiskBytes(const std::string& path) {
  struct statvfs fs;
  if (statvfs(path.c_str(), &fs) != 0)
    return absl::InternalError(absl::StrCat("statvfs ", path, ": ", std::strerror(errno)));
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

std::string HumanBytes(uint64_t bytes) { return absl::StrFormat("%.1f MiB", bytes / 1048576.0); }

}  // namespace gpt4rec::storage
