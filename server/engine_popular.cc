// The popular list: the most frequent items of the last --popular_window_events events, recomputed by the
// refresh loop; it answers users the model cannot (unknown, no model yet, nothing to fold in).
#include "server/engine.h"

#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {

RecResult Engine::Popular(const std::vector<uint32_t>& exclude, uint32_t k, uint64_t version, const char* why) const {
  RecResult result;
  result.model_version = version;
  result.source = RecSource::kPopular;
  auto popular = std::atomic_load(&popular_);
  if (why != nullptr) {
    RecExplanation& e = result.explanation.emplace();
    const uint64_t last = popular->through_sequence;
    const uint64_t window = std::max<uint64_t>(1, options_.popular_window_events);
    e.popular_last_sequence = last;
    e.popular_first_sequence = last == 0 ? 0 : (last >= window ? last - window + 1 : 1);
    e.built_from = absl::StrCat("popular (", why, "): the most frequent items of events ", e.popular_first_sequence,
                                "..", last, " (the last --popular_window_events=", window, " events)");
  }
  auto tables = serving();
  for (const auto& [item, count] : popular->items) {
    if (result.items.size() >= k) break;
    if (std::binary_search(exclude.begin(), exclude.end(), item)) continue;
    std::string name;
    if (static_cast<int32_t>(item) < tables->num_items() && !tables->items->names[item].empty()) {
      name = tables->items->names[item];
    } else {
      auto n = store_->ItemName(item);
      if (!n.ok()) continue;  // deleted meanwhile
      name = std::move(*n);
    }
    result.items.push_back({std::move(name), static_cast<float>(count)});
  }
  if (result.explanation) result.explanation->items.resize(result.items.size());  // nothing per item: counts
  return result;
}

void Engine::RefreshPopular() {
  const uint64_t last = last_sequence_.load();
  auto current = std::atomic_load(&popular_);
  if (current && current->through_sequence == last) return;
  const uint64_t window = std::max<uint64_t>(1, options_.popular_window_events);
  const uint64_t from = last >= window ? last - window + 1 : 1;
  std::unordered_map<uint32_t, uint32_t> counts;
  absl::Status s = store_->ScanEvents(from, last + 1, [&](const storage::StoredEvent& e) {
    ++counts[e.item];
    return true;
  });
  if (!s.ok()) {
    spdlog::warn("popular items: {}", s.ToString());
    if (current) return;
  }
  auto list = std::make_shared<PopularList>();
  list->through_sequence = last;
  list->items.assign(counts.begin(), counts.end());
  std::sort(list->items.begin(), list->items.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  // Enough for any k plus what an unknown user may exclude; the tail never reaches a reply.
  const size_t keep = static_cast<size_t>(options_.max_k) * 4 + 1000;
  if (list->items.size() > keep) list->items.resize(keep);
  std::atomic_store(&popular_, std::shared_ptr<const PopularList>(std::move(list)));
}

}  // namespace gpt4rec::server
