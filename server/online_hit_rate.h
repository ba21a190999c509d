// Online (prequential, test-then-learn) quality: for every ingested event of a user who was served a list
// recently, whether the event's item was in the list last served to that user — counted BEFORE the event
// changes anything (store, fold-in, training), so it measures what the model predicted, not what it learned.
//
// State: the last list served to each active user, the first kDepth (20) items of it as 64-bit hashes of the
// item ids, the serving model version and when it was served. At most `max_users` entries (--online_max_users);
// past the cap the least recently served user is forgotten, and an entry older than the window
// (--online_window_s) no longer counts and is dropped. Memory: BytesPerEntry() per tracked user (one Slot in a
// vector reserved once, one node of the index), so at most max_users * BytesPerEntry() in all.
//
// Counted per event of a tracked user: events; hits at 10 (the item is among the first 10 served items) and at
// 20 (first 20). A list shorter than K (the client asked for fewer, or fewer items were eligible) counts as it
// was served. Attributed to the model version that served the list; the last kVersionsKept versions are kept.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "prometheus/family.h"
#include "prometheus/gauge.h"

namespace gpt4rec::server {

struct Metrics;

struct OnlineCounts {
  uint64_t events = 0;
  uint64_t hits_at_10 = 0;
  uint64_t hits_at_20 = 0;
};

struct OnlineSnapshot {
  OnlineCounts total;                                       // every version together
  std::vector<std::pair<uint64_t, OnlineCounts>> by_version;  // ascending version, at most kVersionsKept
  uint64_t tracked_users = 0;
};

class OnlineHitRate {
 public:
  static constexpr int kDepth = 20;
  static constexpr size_t kVersionsKept = 16;
  // Milliseconds on a monotonic clock (steady_clock by default; tests pass their own).
  using Clock = std::function<int64_t()>;

  // metrics may be null (no Prometheus export).
  OnlineHitRate(size_t max_users, int64_t window_ms, Metrics* metrics, Clock clock = nullptr);

  // The list just served to `user_id` by model `version` (replaces the user's previous one). Items after the
  // first kDepth are not kept.
  void RecordServed(std::string_view user_id, const std::vector<std::string_view>& item_ids, uint64_t version);

  // The test step, before a batch is applied: one verdict per event.
  struct Verdict {
    uint64_t version = 0;
    uint8_t rank = 0;  // kUntracked: no recent list; 0: not in it; r >= 1: at position r (1-based)
  };
  static constexpr uint8_t kUntracked = 255;
  // Empty when no event of the batch belongs to a tracked user (nothing to count).
  std::vector<Verdict> Test(const std::vector<std::pair<std::string_view, std::string_view>>& user_item) const;
  // The count step, after the batch was stored: verdicts[i] counts when stored[i] (an event skipped as a
  // duplicate event_id was counted when it was first stored).
  void Count(const std::vector<Verdict>& verdicts, const std::vector<bool>& stored);

  // DeleteUser: the user's list is forgotten.
  void Erase(std::string_view user_id);

  OnlineSnapshot Snapshot() const;
  size_t max_users() const { return max_users_; }
  // Bytes one tracked user costs: its slot plus its index node and bucket (libstdc++'s unordered_map node of
  // a uint64 -> uint32 pair with the allocator's 16-byte granularity).
  static size_t BytesPerEntry();

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Slot {
    uint64_t user = 0;             // hash of the external user id
    int64_t served_ms = 0;         // when the list was served (clock_)
    uint64_t version = 0;          // model version that served it
    uint64_t items[kDepth] = {};   // hashes of the item ids, best first
    uint32_t prev = kNone, next = kNone;  // recency list (head: most recently served)
    uint8_t size = 0;              // items held
  };
  void Unlink(uint32_t slot);
  void PushFront(uint32_t slot);
  void Remove(uint32_t slot);
  void DropExpired(int64_t now);
  void Publish(uint64_t version, const OnlineCounts& counts);  // Prometheus gauges of one version
  OnlineCounts* Version(uint64_t version);  // the version's counts, created (and the oldest dropped) if new

  const size_t max_users_;
  const int64_t window_ms_;
  Metrics* const metrics_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::vector<Slot> slots_;                      // reserved to max_users_ once
  std::vector<uint32_t> free_;                   // slots released by expiry or Erase
  std::unordered_map<uint64_t, uint32_t> index_;  // user hash -> slot
  uint32_t head_ = kNone, tail_ = kNone;
  OnlineCounts total_;
  std::map<uint64_t, OnlineCounts> by_version_;
  struct VersionGauges {
    prometheus::Gauge* at_10 = nullptr;
    prometheus::Gauge* at_20 = nullptr;
  };
  std::map<uint64_t, VersionGauges> gauges_;
};

}  // namespace gpt4rec::server
