#include "server/model_dir.h"

#include <deque>
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

absl::Status AppendTrainingHistory(const std::string& path, const TrainingSummary& summary) {
  std::ofstream out(path, std::ios::app);
  out << TrainingSummaryJson(summary).dump() << "\n";
  out.flush();
  if (!out) return absl::InternalError("training history: cannot append to " + path);
  return absl::OkStatus();
}

std::vector<TrainingSummary> ReadTrainingHistory(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::deque<TrainingSummary> last;
  for (std::string line; std::getline(in, line);) {
    TrainingSummary s = TrainingSummaryFromJson(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
    if (!s.present) continue;
    last.push_back(std::move(s));
    if (last.size() > max) last.pop_front();
  }
  return {last.begin(), last.end()};
}

}  // namespace gpt4rec::server
