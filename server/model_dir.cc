#include "server/model_dir.h"

#include <fstream>

#include "util/atomic_file.h"

namespace gpt4rec::server {

absl::Status WriteTrainingSummary(const std::string& path, const TrainingSummary& summary) {
  return util::WriteFileAtomically(path, TrainingSummaryJson(summary).dump(2) + "\n");
}

TrainingSummary ReadTrainingSummary(const std::string& path) {
  std::ifstream in(path);
  if (!in) return TrainingSummary{};
  return TrainingSummaryFromJson(nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false));
}

}  // namespace gpt4rec::server
