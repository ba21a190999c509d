#include "server/training_summary.h"

namespace gpt4rec::server {

nlohmann::json TrainingSummaryJson(const TrainingSummary& s) {
  nlohmann::json j = nlohmann::json::object();
  ForEachTrainingSummaryField(s, [&](const char* name, const auto& value) { j[name] = value; });
  return j;
}

TrainingSummary TrainingSummaryFromJson(const nlohmann::json& j) {
  TrainingSummary s;
  if (!j.is_object()) return s;
  s.present = true;
  ForEachTrainingSummaryField(s, [&](const char* name, auto& value) { value = j.value(name, value); });
  return s;
}

}  // namespace gpt4rec::server
