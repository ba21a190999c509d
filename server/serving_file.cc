#include "server/serving_file.h"

#include <cstring>
#include <fstream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "util/atomic_file.h"

namespace gpt4rec::server {
namespace {

constexpr char kMagicV1[8] = {'G', '4', 'R', 'S', 'E', 'R', 'V', '1'};
constexpr char kMagic[8] = {'G', '4', 'R', 'S', 'E', 'R', 'V', '2'};

struct Header {
  char magic[8];
  uint64_t version;
  int64_t trained_segment;
  int32_t dim;
  int32_t num_users;
  int32_t num_items;
  int32_t views;  // format 1: reserved, 0
};

}  // namespace

absl::Status WriteServingFile(const std::string& path, const ServingFile& file) {
  if (file.users.size() != static_cast<size_t>(file.num_users) * file.dim ||
      file.items.size() != static_cast<size_t>(file.num_items) * file.dim) {
    return absl::InternalError("serving file: matrix sizes disagree with the header");
  }
  if (file.views < 0 || file.user_view_weights.size() != static_cast<size_t>(file.num_users) * file.views) {
    return absl::InternalError("serving file: view weights' size disagrees with num_users x views");
  }
  return util::WriteFileAtomically(path, [&](std::ostream& out) {
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof(kMagic));
    h.version = file.version;
    h.trained_segment = file.trained_segment;
    h.dim = file.dim;
    h.num_users = file.num_users;
    h.num_items = file.num_items;
    h.views = file.views;
    out.write(reinterpret_cast<const char*>(&h), sizeof(h));
    out.write(reinterpret_cast<const char*>(file.users.data()), file.users.size() * sizeof(float));
    out.write(reinterpret_cast<const char*>(file.items.data()), file.items.size() * sizeof(float));
    out.write(reinterpret_cast<const char*>(file.user_view_weights.data()),
              file.user_view_weights.size() * sizeof(float));
  });
}

absl::StatusOr<ServingFile> ReadServingFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("no serving file at ", path));
  Header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  const bool v2 = in && std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0;
  if (!in || (!v2 && std::memcmp(h.magic, kMagicV1, sizeof(kMagicV1)) != 0)) {
    return absl::DataLossError(absl::StrCat(path, ": not a serving file (bad header)"));
  }
  if (!v2) h.views = 0;  // format 1: no view weights
  if (h.dim <= 0 || h.num_users < 0 || h.num_items < 0 || h.views < 0) {
    return absl::DataLossError(absl::StrCat(path, ": bad sizes in header"));
  }
  ServingFile file;
  file.version = h.version;
  file.trained_segment = h.trained_segment;
  file.dim = h.dim;
  file.num_users = h.num_users;
  file.num_items = h.num_items;
  file.users.resize(static_cast<size_t>(h.num_users) * h.dim);
  file.items.resize(static_cast<size_t>(h.num_items) * h.dim);
  in.read(reinterpret_cast<char*>(file.users.data()), file.users.size() * sizeof(float));
  in.read(reinterpret_cast<char*>(file.items.data()), file.items.size() * sizeof(float));
  file.views = h.views;
  file.user_view_weights.resize(static_cast<size_t>(h.num_users) * h.views);
  in.read(reinterpret_cast<char*>(file.user_view_weights.data()), file.user_view_weights.size() * sizeof(float));
  if (!in) return absl::DataLossError(absl::StrCat(path, ": truncated"));
  if (in.peek() != std::ifstream::traits_type::eof()) {
    return absl::DataLossError(absl::StrCat(path, ": trailing bytes after the tables"));
  }
  return file;
}

}  // namespace gpt4rec::server
