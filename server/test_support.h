// server/ — test and benchmark support, NOT part of service.h's contract (the way LevelDB keeps its TEST_ hooks
// in db_impl.h, not db.h). Production code never calls these.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/micro_batcher.h"
#include "server/service.h"

namespace gpt4rec::server::test_support {

// Representations installed directly: user u / item i in STORAGE dense ids.
struct SyntheticModel {
  int32_t dim = 0;
  int32_t num_users = 0;
  int32_t num_items = 0;
  std::vector<float> users;  // num_users x dim
  std::vector<float> items;  // num_items x dim
  int32_t views = 0;                     // 0: no view weights (as a format 1 serving file)
  std::vector<float> user_view_weights;  // num_users x views
};

// Blocks until the training queue is empty and no training runs, or `timeout_ms` passes (false).
bool WaitForTrainingIdle(Server& server, int timeout_ms);

// Publishes `model` as serving version `version` without training (not persisted).
absl::Status InstallModel(Server& server, const SyntheticModel& model, uint64_t version);

// The Recommend micro-batcher's per-request timings (server/micro_batcher.h): Record starts (or stops) recording,
// Take returns what was recorded since its last call. Empty before the engine runs.
void RecordBatcherTimings(Server& server, bool on);
std::vector<MicroBatcher::RequestTiming> TakeBatcherTimings(Server& server);

}  // namespace gpt4rec::server::test_support
