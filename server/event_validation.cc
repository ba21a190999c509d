#include "server/event_validation.h"

#include "absl/strings/str_cat.h"
#include "storage/event_validation.h"

namespace gpt4rec::server {

absl::StatusOr<std::vector<storage::Event>> ToStorageEvents(const gpt4rec::v1::IngestRequest& request,
                                                            uint32_t max_events, int64_t latest_time) {
  const int n = request.events_size();
  if (static_cast<uint32_t>(n) > max_events) {
    return absl::ResourceExhaustedError(
        absl::StrCat("events: ", n, " events exceed --max_events_per_request=", max_events));
  }
  std::vector<storage::Event> events;
  events.reserve(n);
  for (const auto& e : request.events()) {
    storage::Event out;
    out.user_id = e.user_id();
    out.item_id = e.item_id();
    out.timestamp = e.timestamp();
    out.event_type = e.event_type();
    out.weight = e.weight() == 0.0f ? 1.0f : e.weight();  // proto3 default: unset weight means 1
    out.event_id = e.event_id();
    events.push_back(std::move(out));
  }
  // The weight default above keeps a finite weight finite, so checking after conversion rejects what checking
  // the request would.
  if (absl::Status s = storage::ValidateEvents(events); !s.ok()) return s;
  // The segment clock trusts event time; a producer's wrong clock (an event dated years ahead) must not move it.
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].timestamp > latest_time) {
      return absl::InvalidArgumentError(
          absl::StrCat("events[", i, "].timestamp: ", events[i].timestamp, " is in the future (latest accepted ",
                       latest_time, " = server clock + --max_future_skew)"));
    }
  }
  return events;
}

}  // namespace gpt4rec::server
