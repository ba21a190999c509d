// storage/ — the one check of producer events against the documented limits (ids 1..256 bytes, event id
// <= 256 bytes, time >= 0, finite weight). AppendBatch runs it on every batch; the server runs it on an ingest
// request before admitting it, so both reject with the same message.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "storage/graph_store.h"

namespace gpt4rec::storage {

// INVALID_ARGUMENT naming the first bad event's index and field, e.g. "events[3].user_id: empty",
// "events[1].item_id: too long (300 bytes, max 256)", "events[2].timestamp: negative (-5)".
absl::Status ValidateEvents(const std::vector<Event>& events);

}  // namespace gpt4rec::storage
