// <data_dir>/model/: the files the engine keeps about the model, named in one place.
//   model.ckpt          the model checkpoint (model Save/Load), the trainer's state
//   serving.bin         the serving file: the serving tables' representations + version (server/serving_file.h)
//   last_training.json  the summary of the last training (GetStats after a restart)
//   training_history.jsonl  one summary per training this data directory saw, oldest first (the dashboard)
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/training_summary.h"

namespace gpt4rec::server {

struct ModelDir {
  std::string dir;

  static constexpr const char* kCheckpoint = "model.ckpt";
  static constexpr const char* kServingFile = "serving.bin";
  static constexpr const char* kTrainingSummary = "last_training.json";
  static constexpr const char* kTrainingHistory = "training_history.jsonl";
  // Every file above (a backup copies them).
  static constexpr std::array<const char*, 4> kFiles = {kCheckpoint, kServingFile, kTrainingSummary,
                                                        kTrainingHistory};

  std::string checkpoint() const { return dir + "/" + kCheckpoint; }
  std::string serving_file() const { return dir + "/" + kServingFile; }
  std::string training_summary() const { return dir + "/" + kTrainingSummary; }
  std::string training_history() const { return dir + "/" + kTrainingHistory; }
  // Cluster mode: the head (cluster::FormatHead) of the publication these files are, written when this replica
  // publishes or adopts one; not in kFiles (a backup restored into a cluster adopts the published model again).
  std::string published_head() const { return dir + "/published_head"; }
};

// last_training.json, replaced atomically.
absl::Status WriteTrainingSummary(const std::string& path, const TrainingSummary& summary);
// present == false when the file is missing or unreadable.
TrainingSummary ReadTrainingSummary(const std::string& path);
// training_history.jsonl: one line appended per training (a torn last line from a crash is skipped on read).
absl::Status AppendTrainingHistory(const std::string& path, const TrainingSummary& summary);
// The last `max` summaries, oldest first; empty when the file is missing.
std::vector<TrainingSummary> ReadTrainingHistory(const std::string& path, size_t max);

}  // namespace gpt4rec::server
