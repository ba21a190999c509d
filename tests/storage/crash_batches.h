// The deterministic batches of the crash test (shared by the child that writes and the parent that checks).
#pragma once

#include <string>
#include <vector>

#include "storage/graph_store.h"

namespace gpt4rec::storage::testing {

inline constexpr SegmentPolicy kCrashSegments{SegmentUnit::kEvents, 997};
inline constexpr uint32_t kCrashItems = 300;

inline uint32_t CrashBatchSize(uint64_t b) { return 10 + static_cast<uint32_t>(b * 37 % 140); }
inline std::string CrashUser(uint64_t b) { return "cu-" + std::to_string(b); }
inline uint32_t CrashItem(uint64_t b, uint32_t j) { return static_cast<uint32_t>((b * 7 + j) % kCrashItems); }

inline std::vector<Event> CrashBatch(uint64_t b) {
  std::vector<Event> batch(CrashBatchSize(b));
  for (uint32_t j = 0; j < batch.size(); ++j) {
    batch[j].user_id = CrashUser(b);
    batch[j].item_id = "ci-" + std::to_string(CrashItem(b, j));
    batch[j].timestamp = static_cast<int64_t>(b);
    batch[j].event_id = "b" + std::to_string(b) + "-e" + std::to_string(j);
  }
  return batch;
}

}  // namespace gpt4rec::storage::testing
