// Reads of the event log column family: by sequence range, by event time (only segments whose time span meets
// the range are read) and the distinct edges of one segment.
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

std::vector<uint64_t> RocksGraphStore::SegmentStarts() const {
  absl::ReaderMutexLock lock(&state_mu_);
  std::vector<uint64_t> starts;
  starts.reserve(closed_.size() + 1);
  for (const SegmentInfo& s : closed_) starts.push_back(s.first_sequence);
  starts.push_back(state_.open.first_sequence);
  return starts;
}

absl::Status RocksGraphStore::ScanRange(uint64_t from, uint64_t to, const std::vector<uint64_t>& segment_starts,
                                        const std::function<bool(const StoredEvent&)>& fn, bool* stopped) const {
  *stopped = false;
  if (from >= to) return absl::OkStatus();
  if (rocks_ == nullptr) return absl::UnavailableError("events: the store could not be reopened after a disk-full error");
  const std::string upper = codec::SequenceKey(to);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(ro, (*rocks_)[kCfEvents]));
  // The record holding `from` starts at or before it.
  it->SeekForPrev(codec::SequenceKey(from));
  if (!it->Valid()) it->SeekToFirst();
  std::vector<codec::LoggedEvent> logged;
  for (; it->Valid(); it->Next()) {
    const uint64_t first = codec::GetBE64(it->key().data());
    if (!codec::DecodeEventRecord(std::string_view(it->value().data(), it->value().size()), &logged))
      return absl::DataLossError(absl::StrCat("events: undecodable record at sequence ", first));
    for (const codec::LoggedEvent& e : logged) {
      const uint64_t seq = first + e.offset;
      if (seq < from) continue;
      if (seq >= to) return absl::OkStatus();
      const auto seg = std::upper_bound(segment_starts.begin(), segment_starts.end(), seq) - segment_starts.begin();
      StoredEvent out{seq, e.user, e.item, e.timestamp, e.event_type, e.weight, static_cast<uint32_t>(seg - 1)};
      if (!fn(out)) {
        *stopped = true;
        return absl::OkStatus();
      }
    }
  }
  return FromRocks(it->status(), "scanning events");
}

absl::Status RocksGraphStore::ScanEvents(uint64_t from_sequence, uint64_t to_sequence,
                                         const std::function<bool(const StoredEvent&)>& fn) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  bool stopped;
  return ScanRange(from_sequence, to_sequence, SegmentStarts(), fn, &stopped);
}

absl::Status RocksGraphStore::ScanEventsByTime(int64_t from_time, int64_t to_time,
                                               const std::function<bool(const StoredEvent&)>& fn) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  // Only segments whose event-time span meets [from, to) are read; their events are filtered by time.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    auto consider = [&](const SegmentInfo& s) {
      if (s.events == 0 || s.max_time < from_time || s.min_time >= to_time) return;
      if (!ranges.empty() && ranges.back().second == s.first_sequence)
        ranges.back().second = s.end_sequence;
      else
        ranges.emplace_back(s.first_sequence, s.end_sequence);
    };
    for (const SegmentInfo& s : closed_) consider(s);
    consider(state_.open);
  }
  const std::vector<uint64_t> starts = SegmentStarts();
  auto filtered = [&](const StoredEvent& e) {
    return e.timestamp < from_time || e.timestamp >= to_time ? true : fn(e);
  };
  for (const auto& [from, to] : ranges) {
    bool stopped;
    if (absl::Status s = ScanRange(from, to, starts, filtered, &stopped); !s.ok() || stopped) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EdgePair>> RocksGraphStore::SegmentEdges(uint32_t segment) const {
  absl::StatusOr<SegmentInfo> seg = FindSegment(segment);
  if (!seg.ok()) return seg.status();
  std::vector<uint64_t> pairs;
  pairs.reserve(seg->events);
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    bool stopped;
    absl::Status s = ScanRange(seg->first_sequence, seg->end_sequence, SegmentStarts(),
                               [&](const StoredEvent& e) {
                                 pairs.push_back(GraphMirror::PairKey(e.user, e.item));
                                 return true;
                               },
                               &stopped);
    if (!s.ok()) return s;
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  std::vector<EdgePair> out;
  out.reserve(pairs.size());
  for (uint64_t p : pairs) out.push_back(EdgePair{static_cast<uint32_t>(p >> 32), static_cast<uint32_t>(p)});
  return out;
}

}  // namespace gpt4rec::storage
