#include "server/event_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace gpt4rec::server {
namespace {

// Empty (unless allowed) or longer than storage::kMaxIdBytes.
absl::Status CheckId(const std::string& value, int index, const char* field, bool allow_empty) {
  if (value.empty() && !allow_empty) return absl::InvalidArgumentError(absl::StrCat("events[", index, "].", field, ": empty"));
  if (value.size() > storage::kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("events[", index, "].", field, ": too long (", value.size(),
                                                   " bytes, max ", storage::kMaxIdBytes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<storage::Event>> ToStorageEvents(const gpt4rec::v1::IngestRequest& request,
                                                            uint32_t max_events) {
  const int n = request.events_size();
  if (static_cast<uint32_t>(n) > max_events) {
    return absl::ResourceExhaustedError(
        absl::StrCat("events: ", n, " events exceed --max_events_per_request=", max_events));
  }
  std::vector<storage::Event> events;
  events.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto& e = request.events(i);
    if (absl::Status s = CheckId(e.user_id(), i, "user_id", false); !s.ok()) return s;
    if (absl::Status s = CheckId(e.item_id(), i, "item_id", false); !s.ok()) return s;
    if (absl::Status s = CheckId(e.event_id(), i, "event_id", true); !s.ok()) return s;
    if (e.timestamp() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "].timestamp: negative (", e.timestamp(), ")"));
    }
    if (!std::isfinite(e.weight())) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "].weight: not finite"));
    }
    storage::Event out;
    out.user_id = e.user_id();
    out.item_id = e.item_id();
    out.timestamp = e.timestamp();
    out.event_type = e.event_type();
    out.weight = e.weight() == 0.0f ? 1.0f : e.weight();
    out.event_id = e.event_id();
    events.push_back(std::move(out));
  }
  return events;
}

}  // namespace gpt4rec::server
