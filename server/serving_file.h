// The serving file <data_dir>/model/serving.bin: the serving tables' representations and version, so a restart
// serves them at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::server {

// The persisted form of the serving tables' representations (<data_dir>/model/serving.bin): a restarted server serves
// them at once without re-propagating the model. Written atomically and durably (util/atomic_file.h).
struct ServingFile {
  uint64_t version = 0;
  int64_t trained_segment = -1;
  int32_t dim = 0;
  int32_t num_users = 0;
  int32_t num_items = 0;
  std::vector<float> users;
  std::vector<float> items;
};

absl::Status WriteServingFile(const std::string& path, const ServingFile& file);
absl::StatusOr<ServingFile> ReadServingFile(const std::string& path);

}  // namespace gpt4rec::server
