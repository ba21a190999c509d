// What the dashboard (server/dashboard_api.h) reads from the engine besides GetStats and Recommend.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "server/engine.h"

namespace gpt4rec::server {

void Engine::MostRecentFirst(std::vector<storage::EdgeInfo>* edges) {
  std::sort(edges->begin(), edges->end(), [](const storage::EdgeInfo& a, const storage::EdgeInfo& b) {
    return a.last_time > b.last_time || (a.last_time == b.last_time && a.other < b.other);
  });
}

std::vector<TrainingSummary> Engine::TrainingHistory() const {
  std::lock_guard<std::mutex> lock(summary_mu_);
  return training_history_;
}

std::vector<std::pair<std::string, int64_t>> Engine::RecentItems(const std::string& user_id, size_t n) const {
  std::vector<std::pair<std::string, int64_t>> out;
  const auto user = store_->FindUser(user_id);
  if (!user) return out;
  std::vector<storage::EdgeInfo> edges = store_->UserItems(*user);
  MostRecentFirst(&edges);
  for (const storage::EdgeInfo& e : edges) {
    if (out.size() == n) break;
    auto name = store_->ItemName(e.other);
    if (name.ok()) out.emplace_back(std::move(*name), e.last_time);
  }
  return out;
}

std::vector<storage::SegmentInfo> Engine::Segments() const {
  std::vector<storage::SegmentInfo> segments = store_->ClosedSegments();
  segments.push_back(store_->OpenSegment());
  return segments;
}

}  // namespace gpt4rec::server
