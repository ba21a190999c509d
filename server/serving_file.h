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
//
// Layout (little-endian): magic "G4RSERV2" (format 2; "G4RSERV1", format 1, is still read), u64 version,
// i64 trained_segment, i32 dim, i32 num_users, i32 num_items, i32 views (format 1: a reserved 0), then the f32
// matrices users (num_users x dim), items (num_items x dim) and, format 2 with views > 0, user_view_weights
// (num_users x views). A format 1 file reads with views = 0 and no weights: the view weights are unavailable.
struct ServingFile {
  uint64_t version = 0;
  int64_t trained_segment = -1;
  int32_t dim = 0;
  int32_t num_users = 0;
  int32_t num_items = 0;
  std::vector<float> users;
  std::vector<float> items;
  // The view-level prompt's γ per user (model::Embeddings::user_view_weights), num_users x views; views = 0 and
  // empty: not available (a format 1 file).
  int32_t views = 0;
  std::vector<float> user_view_weights;
};

absl::Status WriteServingFile(const std::string& path, const ServingFile& file);
absl::StatusOr<ServingFile> ReadServingFile(const std::string& path);

}  // namespace gpt4rec::server
