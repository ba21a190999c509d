// Cluster mode: what one entry of the replicated event log holds, and its bytes. An entry is a batch of
// validated events, a segment close or a user deletion, applied by every replica in stream order.
//
// Format (little-endian, versioned by the kind byte so a replica refuses what it cannot read):
//   'E' u32 count, then per event: u16 len + user_id, u16 len + item_id, i64 timestamp, i32 event_type,
//       f32 weight, u16 len + event_id
//   'C' u64 nonce      (CloseSegment: the nonce keeps two closes from sharing a message id)
//   'D' u16 len + user_id
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/graph_store.h"

namespace gpt4rec::server {

struct LogEntry {
  enum class Kind { kEvents, kCloseSegment, kDeleteUser };
  Kind kind = Kind::kEvents;
  std::vector<storage::Event> events;  // kEvents
  std::string user_id;                 // kDeleteUser
  uint64_t nonce = 0;                  // kCloseSegment
};

std::string EncodeLogEntry(const LogEntry& entry);
// INVALID_ARGUMENT for bytes that are not an entry of this format (the replica logs and skips them).
absl::StatusOr<LogEntry> DecodeLogEntry(std::string_view bytes);

}  // namespace gpt4rec::server
