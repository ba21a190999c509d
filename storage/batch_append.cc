// AppendBatch: validate, plan the whole batch against the mirror (interning, edge upserts, segment closes),
// write ONE RocksDB WriteBatch, then publish to readers in one step.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "rocksdb/write_batch.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/rocks_graph_store.h"
#include "storage/batch_interner.h"
#include "storage/event_validation.h"
#include "storage/segment_clock.h"

namespace gpt4rec::storage {


// An event is a duplicate when its id is in the RAM window, earlier in the batch, or stored in RocksDB (the
// ids the window does not hold, in one MultiGet: the bloom filters answer most of them without a read).
absl::Status RocksGraphStore::FindDuplicateEventIds(const std::vector<Event>& events,
                                                    absl::flat_hash_set<std::string_view>* batch_ids,
                                                    std::vector<uint8_t>* duplicate) const {
  std::vector<size_t> unknown;
  for (size_t k = 0; k < events.size(); ++k) {
    const std::string& id = events[k].event_id;
    if (id.empty()) continue;
    if (mirror_.event_ids.Contains(RecentEventIds::Of(id)) || !batch_ids->insert(id).second)
      (*duplicate)[k] = 1;
    else
      unknown.push_back(k);
  }
  if (unknown.empty()) return absl::OkStatus();
  std::vector<std::string> keys(unknown.size());
  std::vector<rocksdb::Slice> slices(unknown.size());
  for (size_t i = 0; i < unknown.size(); ++i) {
    keys[i] = codec::EventIdKey(events[unknown[i]].event_id);
    slices[i] = keys[i];
  }
  std::vector<rocksdb::PinnableSlice> values(unknown.size());
  std::vector<rocksdb::Status> found(unknown.size());
  rocks_->db->MultiGet(rocksdb::ReadOptions(), (*rocks_)[kCfMeta], slices.size(), slices.data(), values.data(),
                       found.data());
  for (size_t i = 0; i < unknown.size(); ++i) {
    if (found[i].ok())
      (*duplicate)[unknown[i]] = 1;
    else if (!found[i].IsNotFound())
      return FromRocks(found[i], "looking up event ids");
  }
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> RocksGraphStore::AppendBatchAt(const std::vector<Event>& events, uint64_t position) {
  if (absl::Status st = ValidateEvents(events); !st.ok()) return st;
  std::lock_guard write_lock(write_mu_);
  if (absl::Status st = AdmitWrite(); !st.ok()) return st;
  if (pending_edges_.size() >= PendingEdgeLimit())
    if (absl::Status st = StartEdgeFile(); !st.ok()) return st;

  // Plan the batch against the mirror without changing it (only this thread mutates the mirror).
  codec::PersistedState st = state_;
  if (position > 0) st.applied_position = position;
  const SegmentPolicy& policy = options_.segments;
  const bool time_based = IsTimeBased(policy.unit);
  int64_t open_bucket = TimeBucket(policy.unit, st.open_first_time);
  std::vector<SegmentInfo> newly_closed;
  auto close_open = [&](uint64_t end_sequence) {
    SegmentInfo done = st.open;
    done.closed = true;
    done.end_sequence = end_sequence;
    newly_closed.push_back(done);
    st.open = SegmentInfo{};
    st.open.index = done.index + 1;
    st.open.first_sequence = st.open.end_sequence = end_sequence;
  };

  BatchInterner users(mirror_.users, st.next_user);
  BatchInterner items(mirror_.items, st.next_item);
  // One per distinct edge of the batch: this batch's events on the edge only (a merge operand, see
  // storage/edge_merge.h), so nothing is read from RocksDB and the mirror holds no counters. They go to
  // pending_edges_, not into this WriteBatch: the event log written here is their durable record.
  struct PendingEdge {
    uint32_t user;
    uint32_t item;
    codec::EdgeValue delta;
    bool is_new;             // not in the mirror before this batch
    uint32_t last_segment;   // the mirror's, before this batch (when !is_new)
  };
  std::vector<PendingEdge> pending;
  pending.reserve(events.size());
  absl::flat_hash_map<uint64_t, uint32_t> pending_index;
  pending_index.reserve(events.size());
  absl::flat_hash_set<std::string_view> batch_event_ids;
  std::vector<std::pair<std::string_view, uint64_t>> new_event_ids;  // (event_id, sequence)
  std::vector<uint32_t> new_event_id_users;

  AppendResult result;
  const uint64_t first_sequence = st.next_sequence;
  codec::EventRecordWriter record;
  // The mirror's tables are far larger than the caches: look the whole batch up ahead so the misses overlap
  // instead of stalling one by one (names first, then the rows of the resolved users).
  // Each name is hashed once, for the prefetch and the lookup.
  std::vector<std::pair<IdSpace::HashedName, IdSpace::HashedName>> names(events.size());
  for (size_t k = 0; k < events.size(); ++k) {
    names[k] = {IdSpace::Hashed(events[k].user_id), IdSpace::Hashed(events[k].item_id)};
    mirror_.users.Prefetch(names[k].first);
    mirror_.items.Prefetch(names[k].second);
  }
  std::vector<uint8_t> duplicate(events.size(), 0);
  if (absl::Status s = FindDuplicateEventIds(events, &batch_event_ids, &duplicate); !s.ok()) return s;
  std::vector<std::pair<uint32_t, uint32_t>> ids(events.size());
  // A row's header is prefetched as its user resolves, its first entries kLag events later (reading the
  // header then does not stall), so both misses overlap with the lookups in between.
  constexpr size_t kLag = 8;
  for (size_t k = 0; k < events.size(); ++k) {
    if (!duplicate[k]) {
      ids[k] = {users.Resolve(names[k].first), items.Resolve(names[k].second)};
      mirror_.PrefetchRowHeader(ids[k].first);
    }
    if (k >= kLag && !duplicate[k - kLag]) mirror_.PrefetchRow(ids[k - kLag].first);
  }
  for (size_t k = events.size() > kLag ? events.size() - kLag : 0; k < events.size(); ++k)
    if (!duplicate[k]) mirror_.PrefetchRow(ids[k].first);
  for (size_t k = 0; k < events.size(); ++k) {
    const Event& ev = events[k];
    if (duplicate[k]) {
      ++result.duplicates;
      continue;
    }
    const auto [user, item] = ids[k];
    const uint64_t seq = st.next_sequence++;
    if (time_based && st.open.events > 0 && TimeBucket(policy.unit, ev.timestamp) > open_bucket) close_open(seq);
    if (st.open.events == 0) {
      st.open.first_sequence = seq;
      st.open_first_time = st.open.min_time = st.open.max_time = ev.timestamp;
      open_bucket = TimeBucket(policy.unit, ev.timestamp);
    } else {
      st.open.min_time = std::min(st.open.min_time, ev.timestamp);
      st.open.max_time = std::max(st.open.max_time, ev.timestamp);
    }
    ++st.open.events;
    st.open.end_sequence = seq + 1;

    const uint64_t pair = GraphMirror::PairKey(user, item);
    auto [pit, fresh] = pending_index.try_emplace(pair, static_cast<uint32_t>(pending.size()));
    if (fresh) {  // is_new and last_segment: below, from one FindEdges over the batch's distinct edges
      mirror_.PrefetchItemAppend(item);  // the item row's header, in case the edge is new
      PendingEdge p{user, item, codec::EdgeValue{}, false, 0};
      p.delta.first_time = p.delta.last_time = ev.timestamp;
      p.delta.first_segment = p.delta.last_segment = st.open.index;
      pending.push_back(p);
    }
    codec::EdgeValue& v = pending[pit->second].delta;
    v.first_time = std::min(v.first_time, ev.timestamp);
    v.last_time = std::max(v.last_time, ev.timestamp);
    ++v.count;
    v.last_segment = std::max(v.last_segment, st.open.index);
    v.last_type = ev.event_type;
    v.last_weight = ev.weight;

    record.Add({seq - first_sequence, user, item, ev.timestamp, ev.event_type, ev.weight});
    if (!ev.event_id.empty()) {
      new_event_ids.emplace_back(ev.event_id, seq);
      new_event_id_users.push_back(user);
    }
    ++st.stored_events;
    ++result.appended;
    if (policy.unit == SegmentUnit::kEvents && st.open.events >= policy.events_per_segment)
      close_open(seq + 1);
  }
  // Which of the batch's distinct edges the mirror holds (the mirror is unchanged until the publish below, so
  // the pointers stay valid until then).
  std::vector<std::pair<uint32_t, uint32_t>> pairs(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) pairs[i] = {pending[i].user, pending[i].item};
  std::vector<RowEdge*> known(pending.size());
  mirror_.FindEdges(pairs.data(), pairs.size(), known.data());
  for (size_t i = 0; i < pending.size(); ++i) {
    pending[i].is_new = known[i] == nullptr;
    if (known[i] != nullptr)
      pending[i].last_segment = known[i]->last_segment;
    else
      mirror_.PrefetchItemRowEnd(pending[i].item);  // the slot the publish below appends to
  }
  st.next_user = users.next();
  st.next_item = items.next();
  result.last_sequence = st.next_sequence - 1;
  if (result.appended == 0) {  // all duplicates (or empty): nothing to write but the log position
    if (position == 0) return result;
    rocksdb::WriteBatch wb;
    wb.Put((*rocks_)[kCfMeta], codec::kStateKey, codec::EncodeState(st));
    if (rocksdb::Status s = rocks_->db->Write(WriteOpts(), &wb); !s.ok()) return WriteFailed(s, "recording log position");
    absl::WriterMutexLock state_lock(&state_mu_);
    state_ = st;
    return result;
  }
  rocksdb::WriteBatch wb(64 + record.count() * 16 + pending.size() * 48);
  const RocksHandles& cf = *rocks_;
  wb.Put(cf[kCfEvents], codec::SequenceKey(first_sequence), record.Finish());
  // Only what Open reads back is written: names (dense id -> external id; the mirror derives the reverse
  // index) and one adjacency direction, user_items (the mirror derives item -> users). The `ids` and
  // `item_users` column families, written before and never read, stay empty in new stores.
  for (const auto& [name, id] : users.added())
    wb.Put(cf[kCfNames], codec::IdKey('u', id), rocksdb::Slice(name.data(), name.size()));
  for (const auto& [name, id] : items.added())
    wb.Put(cf[kCfNames], codec::IdKey('i', id), rocksdb::Slice(name.data(), name.size()));
  if (!edges_through_written_) {  // user_items holds every event's value before this batch
    char through[8];
    codec::PutBE64(through, first_sequence);
    wb.Put(cf[kCfUserItems], rocksdb::Slice(codec::kEdgesThroughKey.data(), codec::kEdgesThroughKey.size()),
           rocksdb::Slice(through, 8));
  }
  for (size_t i = 0; i < new_event_ids.size(); ++i)
    wb.Put(cf[kCfMeta], codec::EventIdKey(new_event_ids[i].first),
           codec::EncodeEventIdValue(new_event_ids[i].second, new_event_id_users[i]));
  for (const SegmentInfo& seg : newly_closed) {
    wb.Put(cf[kCfMeta], codec::SegmentKey(seg.index), codec::EncodeSegment(seg));
    result.closed_segments.push_back(seg.index);
  }
  wb.Put(cf[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (rocksdb::Status s = cf.db->Write(WriteOpts(), &wb); !s.ok()) return WriteFailed(s, "appending batch");
  if (write_batch_observer_) write_batch_observer_(std::string_view(wb.Data()));
  edges_through_written_ = true;

  // Durable (per options): publish to readers in one step.
  {
    absl::WriterMutexLock state_lock(&state_mu_);
    for (const auto& [name, id] : users.added()) mirror_.users.Set(id, name);
    for (const auto& [name, id] : items.added()) mirror_.items.Set(id, name);
    // Existing edges first, through the pointers found above (AddEdge moves rows: they would dangle after).
    for (size_t i = 0; i < pending.size(); ++i)
      if (known[i] != nullptr && pending[i].delta.last_segment > pending[i].last_segment)
        GraphMirror::TouchEdge(known[i], pending[i].delta.last_segment);
    for (size_t i = 0; i < pending.size(); ++i) {
      const PendingEdge& p = pending[i];
      if (i + kLag < pending.size()) pending_edges_.Prefetch(pending[i + kLag].user, pending[i + kLag].item);
      if (p.is_new) mirror_.AddEdge(p.user, RowEdge{p.item, p.delta.first_segment, p.delta.last_segment});
      pending_edges_.Add(p.user, p.item, p.delta);
    }
    for (size_t i = 0; i < new_event_ids.size(); ++i)
      mirror_.event_ids.Add(RecentEventIds::Of(new_event_ids[i].first));
    closed_.insert(closed_.end(), newly_closed.begin(), newly_closed.end());
    state_ = st;
  }
  // A fresh mirror image once the log after the last one has grown (the writer lock is held: the mirror does
  // not change meanwhile; readers go on).
  if (options_.mirror_image_min_events > 0 &&
      st.next_sequence - std::max<uint64_t>(image_sequence_, 1) >=
          std::max(options_.mirror_image_min_events, st.stored_events / 2))
    WriteImage("periodic");
  return result;
}

}  // namespace gpt4rec::storage
