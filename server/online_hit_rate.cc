#include "server/online_hit_rate.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>

#include "server/metrics.h"

namespace gpt4rec::server {
namespace {

uint64_t Hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Rate(uint64_t hits, uint64_t events) { return events == 0 ? 0.0 : static_cast<double>(hits) / events; }

}  // namespace

OnlineHitRate::OnlineHitRate(size_t max_users, int64_t window_ms, Metrics* metrics, Clock clock)
    : max_users_(max_users), window_ms_(window_ms), metrics_(metrics), clock_(clock ? std::move(clock) : SteadyMs) {
  // Reserved once: the slots' pages are touched only as users are tracked, and never reallocated.
  slots_.reserve(max_users_);
  index_.reserve(max_users_);
}

size_t OnlineHitRate::BytesPerEntry() {
  // libstdc++ node: next pointer + pair<const uint64_t, uint32_t> = 24 bytes, a 32-byte malloc chunk; one bucket
  // pointer per element at load factor 1.
  return sizeof(Slot) + 32 + sizeof(void*);
}

void OnlineHitRate::Unlink(uint32_t s) {
  Slot& slot = slots_[s];
  if (slot.prev != kNone) slots_[slot.prev].next = slot.next; else head_ = slot.next;
  if (slot.next != kNone) slots_[slot.next].prev = slot.prev; else tail_ = slot.prev;
  slot.prev = slot.next = kNone;
}

void OnlineHitRate::PushFront(uint32_t s) {
  Slot& slot = slots_[s];
  slot.prev = kNone;
  slot.next = head_;
  if (head_ != kNone) slots_[head_].prev = s;
  head_ = s;
  if (tail_ == kNone) tail_ = s;
}

void OnlineHitRate::Remove(uint32_t s) {
  Unlink(s);
  index_.erase(slots_[s].user);
  free_.push_back(s);
}

// The tail is the least recently served entry: expired entries leave from there.
void OnlineHitRate::DropExpired(int64_t now) {
  while (tail_ != kNone && now - slots_[tail_].served_ms > window_ms_) Remove(tail_);
}

void OnlineHitRate::RecordServed(std::string_view user_id, const std::vector<std::string_view>& item_ids,
                                 uint64_t version) {
  if (max_users_ == 0) return;
  const uint64_t user = Hash(user_id);
  uint64_t items[kDepth];
  const uint8_t n = static_cast<uint8_t>(std::min<size_t>(item_ids.size(), kDepth));
  for (uint8_t i = 0; i < n; ++i) items[i] = Hash(item_ids[i]);
  const int64_t now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(now);
  uint32_t s;
  if (auto it = index_.find(user); it != index_.end()) {
    s = it->second;
    Unlink(s);
  } else {
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    } else if (slots_.size() < max_users_) {
      s = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {  // full: forget the least recently served user
      s = tail_;
      Unlink(s);
      index_.erase(slots_[s].user);
    }
    index_.emplace(user, s);
  }
  Slot& slot = slots_[s];
  slot.user = user;
  slot.served_ms = now;
  slot.version = version;
  slot.size = n;
  std::copy(items, items + n, slot.items);
  PushFront(s);
  Version(version);
  if (metrics_) metrics_->online_tracked_users->Set(static_cast<double>(index_.size()));
}

std::vector<OnlineHitRate::Verdict> OnlineHitRate::Test(
    const std::vector<std::pair<std::string_view, std::string_view>>& user_item) const {
  std::vector<Verdict> verdicts;
  if (max_users_ == 0) return verdicts;
  std::vector<std::pair<uint64_t, uint64_t>> hashed;
  hashed.reserve(user_item.size());
  for (const auto& [user, item] : user_item) hashed.emplace_back(Hash(user), Hash(item));
  const int64_t now = clock_();
  bool any = false;
  std::lock_guard<std::mutex> lock(mu_);
  if (index_.empty()) return verdicts;
  verdicts.resize(hashed.size());
  for (size_t i = 0; i < hashed.size(); ++i) {
    Verdict& v = verdicts[i];
    v.rank = kUntracked;
    auto it = index_.find(hashed[i].first);
    if (it == index_.end()) continue;
    const Slot& slot = slots_[it->second];
    if (now - slot.served_ms > window_ms_) continue;
    any = true;
    v.version = slot.version;
    v.rank = 0;
    for (uint8_t r = 0; r < slot.size; ++r) {
      if (slot.items[r] == hashed[i].second) {
        v.rank = static_cast<uint8_t>(r + 1);
        break;
      }
    }
  }
  if (!any) verdicts.clear();
  return verdicts;
}

void OnlineHitRate::Count(const std::vector<Verdict>& verdicts, const std::vector<bool>& stored) {
  if (verdicts.empty()) return;
  OnlineCounts added;
  std::map<uint64_t, OnlineCounts> per_version;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const Verdict& v = verdicts[i];
    if (v.rank == kUntracked || i >= stored.size() || !stored[i]) continue;
    OnlineCounts& c = per_version[v.version];
    ++c.events;
    ++added.events;
    if (v.rank >= 1 && v.rank <= 10) ++c.hits_at_10, ++added.hits_at_10;
    if (v.rank >= 1 && v.rank <= 20) ++c.hits_at_20, ++added.hits_at_20;
  }
  if (added.events == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  total_.events += added.events;
  total_.hits_at_10 += added.hits_at_10;
  total_.hits_at_20 += added.hits_at_20;
  if (metrics_) {
    metrics_->online_events->Increment(static_cast<double>(added.events));
    metrics_->online_hits_at_10->Increment(static_cast<double>(added.hits_at_10));
    metrics_->online_hits_at_20->Increment(static_cast<double>(added.hits_at_20));
  }
  for (const auto& [version, c] : per_version) {
    OnlineCounts* into = Version(version);
    if (into == nullptr) continue;  // older than every version kept
    into->events += c.events;
    into->hits_at_10 += c.hits_at_10;
    into->hits_at_20 += c.hits_at_20;
    Publish(version, *into);
  }
}

// Only the newest kVersionsKept versions are kept (and exported): a long-running server must not grow a series
// per version. A version's entry (and its gauges, NaN until an event counts) appears when it first serves a
// list, so the family is on /metrics from the first Recommend.
OnlineCounts* OnlineHitRate::Version(uint64_t version) {
  if (auto it = by_version_.find(version); it != by_version_.end()) return &it->second;
  if (by_version_.size() >= kVersionsKept) {
    if (version < by_version_.begin()->first) return nullptr;
    const uint64_t oldest = by_version_.begin()->first;
    by_version_.erase(by_version_.begin());
    if (auto g = gauges_.find(oldest); g != gauges_.end()) {
      if (metrics_) {
        metrics_->online_hit_rate->Remove(g->second.at_10);
        metrics_->online_hit_rate->Remove(g->second.at_20);
      }
      gauges_.erase(g);
    }
  }
  OnlineCounts* counts = &by_version_[version];
  Publish(version, *counts);
  return counts;
}

void OnlineHitRate::Publish(uint64_t version, const OnlineCounts& counts) {
  if (!metrics_) return;
  auto [it, inserted] = gauges_.try_emplace(version);
  if (inserted) {
    const std::string v = std::to_string(version);
    it->second.at_10 = &metrics_->online_hit_rate->Add({{"k", "10"}, {"model_version", v}});
    it->second.at_20 = &metrics_->online_hit_rate->Add({{"k", "20"}, {"model_version", v}});
  }
  // No event counted yet: NaN (no rate), not 0.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  it->second.at_10->Set(counts.events == 0 ? nan : Rate(counts.hits_at_10, counts.events));
  it->second.at_20->Set(counts.events == 0 ? nan : Rate(counts.hits_at_20, counts.events));
}

void OnlineHitRate::Erase(std::string_view user_id) {
  if (max_users_ == 0) return;
  const uint64_t user = Hash(user_id);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(user);
  if (it == index_.end()) return;
  Remove(it->second);
  if (metrics_) metrics_->online_tracked_users->Set(static_cast<double>(index_.size()));
}

OnlineSnapshot OnlineHitRate::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  OnlineSnapshot snap;
  snap.total = total_;
  snap.by_version.assign(by_version_.begin(), by_version_.end());
  snap.tracked_users = index_.size();  // lists held (an expired one leaves at the next RecordServed)
  return snap;
}

}  // namespace gpt4rec::server
