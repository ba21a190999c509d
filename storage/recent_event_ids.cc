#include "storage/recent_event_ids.h"

#include <functional>

#include "absl/hash/hash.h"

namespace gpt4rec::storage {

RecentEventIds::Fingerprint RecentEventIds::Of(std::string_view event_id) {
  return {absl::Hash<absl::string_view>()(absl::string_view(event_id.data(), event_id.size())),
          std::hash<std::string_view>()(event_id)};
}

void RecentEventIds::Add(const Fingerprint& f) {
  if (capacity_ == 0) return;
  if (!set_.insert(f).second) return;
  if (ring_.size() < capacity_) {
    ring_.push_back(f);
    return;
  }
  set_.erase(ring_[next_]);
  ring_[next_] = f;
  next_ = (next_ + 1) % capacity_;
}

}  // namespace gpt4rec::storage
