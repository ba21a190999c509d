// The summary of the last training: what GetStats reports (gpt4rec.v1.TrainingSummary) and what
// <data_dir>/model/last_training.json keeps across restarts.
#pragma once

#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"

namespace gpt4rec::server {

struct TrainingSummary {
  bool present = false;  // false: no training finished yet (and no summary file)
  uint32_t segment = 0;
  uint64_t model_version = 0;
  std::string mode;
  uint32_t epochs = 0;
  float final_loss = 0;
  float valid_recall20 = 0;
  double seconds = 0;
  int64_t finished_at = 0;
};

// The one list of the summary's fields: each name is both the JSON key of last_training.json and the field of
// gpt4rec.v1.TrainingSummary, so a new field is one line here (and one in the proto).
template <typename Summary, typename Visit>
void ForEachTrainingSummaryField(Summary& s, Visit&& visit) {
  visit("segment", s.segment);
  visit("model_version", s.model_version);
  visit("mode", s.mode);
  visit("epochs", s.epochs);
  visit("final_loss", s.final_loss);
  visit("valid_recall20", s.valid_recall20);
  visit("seconds", s.seconds);
  visit("finished_at", s.finished_at);
}

// Every field under its name (`present` is not written: a summary that exists is present).
nlohmann::json TrainingSummaryJson(const TrainingSummary& s);
// The fields found in `j` (missing ones keep their defaults); present = j is an object.
TrainingSummary TrainingSummaryFromJson(const nlohmann::json& j);

}  // namespace gpt4rec::server
