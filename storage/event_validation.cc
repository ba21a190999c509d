#include "storage/event_validation.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace gpt4rec::storage {
namespace {

// Empty (unless allowed) or longer than kMaxIdBytes.
absl::Status CheckId(const std::string& value, size_t index, const char* field, bool allow_empty) {
  if (value.empty() && !allow_empty)
    return absl::InvalidArgumentError(absl::StrCat("events[", index, "].", field, ": empty"));
  if (value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("events[", index, "].", field, ": too long (", value.size(),
                                                   " bytes, max ", kMaxIdBytes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEvents(const std::vector<Event>& events) {
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (absl::Status s = CheckId(e.user_id, i, "user_id", false); !s.ok()) return s;
    if (absl::Status s = CheckId(e.item_id, i, "item_id", false); !s.ok()) return s;
    if (absl::Status s = CheckId(e.event_id, i, "event_id", true); !s.ok()) return s;
    if (e.timestamp < 0)
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "].timestamp: negative (", e.timestamp, ")"));
    if (!std::isfinite(e.weight)) return absl::InvalidArgumentError(absl::StrCat("events[", i, "].weight: not finite"));
  }
  return absl::OkStatus();
}

}  // namespace gpt4rec::storage
