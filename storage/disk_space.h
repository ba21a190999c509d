// Private to storage/: free space on the file system that holds the data directory.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace gpt4rec::storage {

// Bytes an unprivileged writer can still allocate on the file system holding `path` (statvfs f_bavail).
absl::StatusOr<uint64_t> FreeDiskBytes(const std::string& path);

// "12.3 MiB", for refusal messages.
std::string HumanBytes(uint64_t bytes);

}  // namespace gpt4rec::storage
