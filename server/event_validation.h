// Converts an IngestRequest to storage events and checks them with storage::ValidateEvents, so a bad batch is
// rejected before anything is written. Errors name the field and index: "events[3].user_id: empty".
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "gpt4rec/v1/recommender.pb.h"
#include "storage/graph_store.h"

namespace gpt4rec::server {

// INVALID_ARGUMENT for a malformed event or one dated after `latest_time` (unix seconds: the server clock plus
// --max_future_skew; the message names both); RESOURCE_EXHAUSTED when the batch has more than max_events events.
absl::StatusOr<std::vector<storage::Event>> ToStorageEvents(const gpt4rec::v1::IngestRequest& request,
                                                            uint32_t max_events,
                                                            int64_t latest_time = INT64_MAX);

}  // namespace gpt4rec::server
