// GraphStore on RocksDB with an in-memory adjacency mirror. See storage/README.md for the design, the on-disk
// layout (storage/codec.h) and the durability / erasure guarantees.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "storage/codec.h"
#include "storage/graph_mirror.h"
#include "storage/graph_store.h"
#include "storage/rocks_layout.h"
#include "storage/segment_clock.h"

namespace gpt4rec::storage {
namespace {

absl::Status ValidateBatch(const std::vector<Event>& events) {
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    auto fail = [&](const char* field, const std::string& reason) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "].", field, ": ", reason));
    };
    if (e.user_id.empty()) return fail("user_id", "empty");
    if (e.user_id.size() > kMaxIdBytes) return fail("user_id", absl::StrCat("longer than ", kMaxIdBytes, " bytes"));
    if (e.item_id.empty()) return fail("item_id", "empty");
    if (e.item_id.size() > kMaxIdBytes) return fail("item_id", absl::StrCat("longer than ", kMaxIdBytes, " bytes"));
    if (e.timestamp < 0) return fail("timestamp", "negative");
    if (!std::isfinite(e.weight)) return fail("weight", "not finite");
    if (e.event_id.size() > kMaxIdBytes)
      return fail("event_id", absl::StrCat("longer than ", kMaxIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

std::string Be32(uint32_t v) {
  std::string s(4, '\0');
  codec::PutBE32(s.data(), v);
  return s;
}

// Resolves external ids to dense ids during one batch: known ids from the mirror, new ones numbered from
// `next` (applied to the mirror only after the WriteBatch succeeded).
class BatchInterner {
 public:
  BatchInterner(const IdSpace& known, uint32_t next) : known_(known), next_(next) {}
  uint32_t Resolve(std::string_view name) {
    if (auto id = known_.Find(name)) return *id;
    auto [it, inserted] = fresh_.try_emplace(name, next_);
    if (inserted) {
      added_.emplace_back(name, next_);
      ++next_;
    }
    return it->second;
  }
  uint32_t next() const { return next_; }
  const std::vector<std::pair<std::string_view, uint32_t>>& added() const { return added_; }

 private:
  const IdSpace& known_;
  uint32_t next_;
  absl::flat_hash_map<std::string_view, uint32_t> fresh_;
  std::vector<std::pair<std::string_view, uint32_t>> added_;
};

class RocksGraphStore final : public GraphStore {
 public:
  RocksGraphStore(std::string dir, StoreOptions options, std::unique_ptr<RocksHandles> rocks)
      : dir_(std::move(dir)), options_(std::move(options)), rocks_(std::move(rocks)) {}

  absl::Status Load();

  absl::StatusOr<AppendResult> AppendBatch(const std::vector<Event>& events) override;

  std::optional<uint32_t> FindUser(const std::string& external_id) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.users.Find(external_id);
  }
  std::optional<uint32_t> FindItem(const std::string& external_id) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.items.Find(external_id);
  }
  absl::StatusOr<std::string> UserName(uint32_t user) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    if (const std::string* n = mirror_.users.Name(user)) return *n;
    return absl::NotFoundError(absl::StrCat("user ", user, " is unknown or deleted"));
  }
  absl::StatusOr<std::string> ItemName(uint32_t item) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    if (const std::string* n = mirror_.items.Name(item)) return *n;
    return absl::NotFoundError(absl::StrCat("item ", item, " is unknown"));
  }
  uint32_t UserIdSpace() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.users.size();
  }
  uint32_t ItemIdSpace() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.items.size();
  }

  std::vector<EdgeInfo> UserItems(uint32_t user) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return Edges(mirror_.UserEdgeSlots(user), /*user_side=*/true);
  }
  std::vector<EdgeInfo> ItemUsers(uint32_t item) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return Edges(mirror_.ItemEdgeSlots(item), /*user_side=*/false);
  }
  uint32_t UserDegree(uint32_t user) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return static_cast<uint32_t>(mirror_.UserEdgeSlots(user).size());
  }
  uint32_t ItemDegree(uint32_t item) const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return static_cast<uint32_t>(mirror_.ItemEdgeSlots(item).size());
  }
  Counts GetCounts() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return Counts{mirror_.users.live(), mirror_.items.live(), mirror_.live_edges(), state_.stored_events};
  }
  uint64_t MemoryBytes() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return mirror_.MemoryBytes();
  }

  absl::Status ScanEvents(uint64_t from_sequence, uint64_t to_sequence,
                          const std::function<bool(const StoredEvent&)>& fn) const override;
  absl::Status ScanEventsByTime(int64_t from_time, int64_t to_time,
                                const std::function<bool(const StoredEvent&)>& fn) const override;

  SegmentInfo OpenSegment() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return state_.open;
  }
  std::vector<SegmentInfo> ClosedSegments() const override {
    absl::ReaderMutexLock lock(&state_mu_);
    return closed_;
  }
  absl::StatusOr<SegmentInfo> CloseSegment() override;
  absl::StatusOr<std::vector<EdgePair>> SegmentEdges(uint32_t segment) const override;
  absl::StatusOr<Csr> AccumulatedCsr(uint32_t segment) const override;

  absl::Status Snapshot(const std::string& dir) const override;
  absl::StatusOr<DeleteResult> DeleteUser(const std::string& external_id) override;
  absl::Status Flush() override;

 private:
  std::vector<EdgeInfo> Edges(const std::vector<uint32_t>& slots, bool user_side) const;
  // Scans [from, to) of the event log; `stopped` is set when fn returned false. Caller holds db_mu_ shared.
  absl::Status ScanRange(uint64_t from, uint64_t to, const std::vector<uint64_t>& segment_starts,
                         const std::function<bool(const StoredEvent&)>& fn, bool* stopped) const;
  std::vector<uint64_t> SegmentStarts() const;  // first_sequence of every segment, open one last
  absl::StatusOr<SegmentInfo> FindSegment(uint32_t segment) const;
  rocksdb::WriteOptions WriteOpts(bool force_sync = false) const {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync || force_sync;
    return wo;
  }
  absl::Status EraseFromFiles();

  const std::string dir_;
  const StoreOptions options_;

  // Lock order: write_mu_, then db_mu_, then state_mu_.
  mutable std::mutex write_mu_;          // one writer at a time (append, close, delete, snapshot, flush)
  // absl::Mutex rather than std::shared_mutex: glibc's rwlock prefers readers, so a steady stream of
  // overlapping reads (serving) could starve the append path's short publish step.
  mutable absl::Mutex db_mu_;     // exclusive only while DeleteUser compacts and reopens RocksDB
  mutable absl::Mutex state_mu_;  // guards mirror_, state_, closed_
  std::unique_ptr<RocksHandles> rocks_;
  GraphMirror mirror_;
  codec::PersistedState state_;
  std::vector<SegmentInfo> closed_;
};

absl::Status RocksGraphStore::Load() {
  rocksdb::DB* db = rocks_->db;
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), (*rocks_)[kCfMeta], codec::kStateKey, &value);
  if (s.ok()) {
    if (!codec::DecodeState(value, &state_)) return absl::DataLossError("meta/state: undecodable");
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading meta/state");
  } else {
    state_.open.first_sequence = state_.open.end_sequence = state_.next_sequence;
  }

  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), (*rocks_)[kCfNames]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != 5) return absl::DataLossError("names: bad key");
    const uint32_t id = codec::GetBE32(k.data() + 1);
    (k[0] == 'u' ? mirror_.users : mirror_.items).Set(id, it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning names");
  mirror_.users.Reserve(state_.next_user);
  mirror_.items.Reserve(state_.next_item);

  it.reset(db->NewIterator(rocksdb::ReadOptions(), (*rocks_)[kCfUserItems]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    MirrorEdge e;
    if (k.size() != 8 || !codec::DecodeEdge(std::string_view(it->value().data(), it->value().size()), &e.value))
      return absl::DataLossError("user_items: undecodable entry");
    e.user = codec::GetBE32(k.data());
    e.item = codec::GetBE32(k.data() + 4);
    mirror_.AddEdge(e);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning user_items");

  it.reset(db->NewIterator(rocksdb::ReadOptions(), (*rocks_)[kCfMeta]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const std::string_view v(it->value().data(), it->value().size());
    if (!k.empty() && k[0] == codec::kSegmentPrefix && k.size() == 5) {
      SegmentInfo seg;
      if (!codec::DecodeSegment(v, &seg)) return absl::DataLossError("meta: undecodable segment");
      closed_.push_back(seg);
    } else if (!k.empty() && k[0] == codec::kEventIdPrefix) {
      uint64_t seq;
      uint32_t user;
      if (!codec::DecodeEventIdValue(v, &seq, &user)) return absl::DataLossError("meta: undecodable event id");
      mirror_.event_ids.insert(GraphMirror::Fingerprint(std::string_view(k.data() + 1, k.size() - 1)));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning meta");
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> RocksGraphStore::AppendBatch(const std::vector<Event>& events) {
  if (absl::Status st = ValidateBatch(events); !st.ok()) return st;
  std::lock_guard write_lock(write_mu_);

  // Plan the batch against the mirror without changing it (only this thread mutates the mirror).
  codec::PersistedState st = state_;
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
  struct PendingEdge {
    MirrorEdge edge;
    uint32_t slot;  // mirror slot (reserved in the writer-only index when is_new)
    bool is_new;
  };
  std::vector<PendingEdge> pending;
  pending.reserve(events.size());
  uint32_t next_slot = mirror_.num_slots();
  // Undoes the slot reservations when the batch does not make it to RocksDB.
  auto forget_reserved = [&] {
    for (const PendingEdge& p : pending)
      if (p.is_new) mirror_.ForgetReservedEdge(p.edge.user, p.edge.item);
  };
  absl::flat_hash_map<uint64_t, uint32_t> pending_index;
  pending_index.reserve(events.size());
  absl::flat_hash_set<std::string_view> batch_event_ids;
  std::vector<std::pair<std::string_view, uint64_t>> new_event_ids;  // (event_id, sequence)
  std::vector<uint32_t> new_event_id_users;

  AppendResult result;
  const uint64_t first_sequence = st.next_sequence;
  codec::EventRecordWriter record;
  // The mirror's hash tables are far larger than the caches: look the whole batch up ahead so the misses
  // overlap instead of stalling one by one (names first, then the edges of the resolved ids).
  for (const Event& ev : events) {
    mirror_.users.Prefetch(ev.user_id);
    mirror_.items.Prefetch(ev.item_id);
  }
  std::vector<uint8_t> duplicate(events.size(), 0);
  std::vector<std::pair<uint32_t, uint32_t>> ids(events.size());
  for (size_t k = 0; k < events.size(); ++k) {
    const Event& ev = events[k];
    if (!ev.event_id.empty() &&
        (mirror_.event_ids.contains(GraphMirror::Fingerprint(ev.event_id)) ||
         !batch_event_ids.insert(ev.event_id).second)) {
      duplicate[k] = 1;
      continue;
    }
    ids[k] = {users.Resolve(ev.user_id), items.Resolve(ev.item_id)};
    mirror_.PrefetchEdge(ids[k].first, ids[k].second);
  }
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
    if (fresh) {
      bool is_new = false;
      const uint32_t slot = mirror_.FindOrReserveEdge(user, item, next_slot, &is_new);
      PendingEdge p{is_new ? MirrorEdge{} : mirror_.edge(slot), slot, is_new};
      if (is_new) {
        ++next_slot;
        p.edge.user = user;
        p.edge.item = item;
        p.edge.value.first_time = p.edge.value.last_time = ev.timestamp;
        p.edge.value.first_segment = p.edge.value.last_segment = st.open.index;
      }
      pending.push_back(p);
    }
    codec::EdgeValue& v = pending[pit->second].edge.value;
    if (v.count > 0) {
      v.first_time = std::min(v.first_time, ev.timestamp);
      v.last_time = std::max(v.last_time, ev.timestamp);
    }
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
  st.next_user = users.next();
  st.next_item = items.next();
  result.last_sequence = st.next_sequence - 1;
  if (result.appended == 0) return result;  // all duplicates (or empty): nothing to write
  for (const PendingEdge& p : pending) mirror_.PrefetchLists(p.edge.user, p.edge.item);

  rocksdb::WriteBatch wb(64 + record.count() * 16 + pending.size() * 48);
  const RocksHandles& cf = *rocks_;
  wb.Put(cf[kCfEvents], codec::SequenceKey(first_sequence), record.Finish());
  for (const auto& [name, id] : users.added()) {
    wb.Put(cf[kCfIds], codec::NameKey('u', name), Be32(id));
    wb.Put(cf[kCfNames], codec::IdKey('u', id), rocksdb::Slice(name.data(), name.size()));
  }
  for (const auto& [name, id] : items.added()) {
    wb.Put(cf[kCfIds], codec::NameKey('i', name), Be32(id));
    wb.Put(cf[kCfNames], codec::IdKey('i', id), rocksdb::Slice(name.data(), name.size()));
  }
  std::string value;
  char key[8];
  for (const PendingEdge& p : pending) {
    value.clear();
    codec::EncodeEdge(p.edge.value, &value);
    codec::PutBE32(key, p.edge.user);
    codec::PutBE32(key + 4, p.edge.item);
    wb.Put(cf[kCfUserItems], rocksdb::Slice(key, 8), value);
    codec::PutBE32(key, p.edge.item);
    codec::PutBE32(key + 4, p.edge.user);
    wb.Put(cf[kCfItemUsers], rocksdb::Slice(key, 8), value);
  }
  for (size_t i = 0; i < new_event_ids.size(); ++i)
    wb.Put(cf[kCfMeta], codec::EventIdKey(new_event_ids[i].first),
           codec::EncodeEventIdValue(new_event_ids[i].second, new_event_id_users[i]));
  for (const SegmentInfo& seg : newly_closed) {
    wb.Put(cf[kCfMeta], codec::SegmentKey(seg.index), codec::EncodeSegment(seg));
    result.closed_segments.push_back(seg.index);
  }
  wb.Put(cf[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (absl::Status s = FromRocks(cf.db->Write(WriteOpts(), &wb), "appending batch"); !s.ok()) {
    forget_reserved();
    return s;
  }
  if (options_.write_batch_observer) options_.write_batch_observer(std::string_view(wb.Data()));

  // Durable (per options): publish to readers in one step.
  absl::WriterMutexLock state_lock(&state_mu_);
  for (const auto& [name, id] : users.added()) mirror_.users.Set(id, std::string(name));
  for (const auto& [name, id] : items.added()) mirror_.items.Set(id, std::string(name));
  for (const PendingEdge& p : pending) {
    if (p.is_new)
      mirror_.AddReservedEdge(p.slot, p.edge);  // slots were reserved in increasing order
    else
      mirror_.mutable_edge(p.slot).value = p.edge.value;
  }
  for (size_t i = 0; i < new_event_ids.size(); ++i)
    mirror_.event_ids.insert(GraphMirror::Fingerprint(new_event_ids[i].first));
  closed_.insert(closed_.end(), newly_closed.begin(), newly_closed.end());
  state_ = st;
  return result;
}

std::vector<EdgeInfo> RocksGraphStore::Edges(const std::vector<uint32_t>& slots, bool user_side) const {
  std::vector<EdgeInfo> out;
  out.reserve(slots.size());
  for (uint32_t slot : slots) {
    const MirrorEdge& e = mirror_.edge(slot);
    out.push_back(EdgeInfo{user_side ? e.item : e.user, e.value.first_time, e.value.last_time, e.value.count,
                           e.value.last_type, e.value.last_weight, e.value.first_segment,
                           e.value.last_segment});
  }
  std::sort(out.begin(), out.end(), [](const EdgeInfo& a, const EdgeInfo& b) { return a.other < b.other; });
  return out;
}

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

absl::StatusOr<SegmentInfo> RocksGraphStore::CloseSegment() {
  std::lock_guard write_lock(write_mu_);
  codec::PersistedState st = state_;
  if (st.open.events == 0)
    return absl::FailedPreconditionError(absl::StrCat("segment ", st.open.index, " holds no events"));
  SegmentInfo done = st.open;
  done.closed = true;
  st.open = SegmentInfo{};
  st.open.index = done.index + 1;
  st.open.first_sequence = st.open.end_sequence = st.next_sequence;
  rocksdb::WriteBatch wb;
  wb.Put((*rocks_)[kCfMeta], codec::SegmentKey(done.index), codec::EncodeSegment(done));
  wb.Put((*rocks_)[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (absl::Status s = FromRocks(rocks_->db->Write(WriteOpts(), &wb), "closing segment"); !s.ok()) return s;
  absl::WriterMutexLock state_lock(&state_mu_);
  closed_.push_back(done);
  state_ = st;
  return done;
}

absl::StatusOr<SegmentInfo> RocksGraphStore::FindSegment(uint32_t segment) const {
  absl::ReaderMutexLock lock(&state_mu_);
  if (segment < closed_.size()) return closed_[segment];
  if (segment == state_.open.index) return state_.open;
  return absl::NotFoundError(absl::StrCat("segment ", segment, " does not exist (open segment is ",
                                          state_.open.index, ")"));
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

absl::StatusOr<Csr> RocksGraphStore::AccumulatedCsr(uint32_t segment) const {
  absl::ReaderMutexLock lock(&state_mu_);
  if (segment > state_.open.index)
    return absl::NotFoundError(absl::StrCat("segment ", segment, " does not exist (open segment is ",
                                            state_.open.index, ")"));
  return mirror_.AccumulatedCsr(segment);
}

absl::Status RocksGraphStore::Snapshot(const std::string& dir) const {
  std::lock_guard write_lock(write_mu_);
  if (std::filesystem::exists(dir)) return absl::AlreadyExistsError(absl::StrCat("snapshot dir ", dir, " exists"));
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s = FromRocks(rocksdb::Checkpoint::Create(rocks_->db, &raw), "checkpoint"); !s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush = 0: flush memtables first, so the snapshot is SST files plus an empty WAL tail.
  return FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0), absl::StrCat("checkpoint to ", dir));
}

absl::Status RocksGraphStore::Flush() {
  std::lock_guard write_lock(write_mu_);
  if (absl::Status s = FromRocks(rocks_->db->FlushWAL(/*sync=*/true), "syncing WAL"); !s.ok()) return s;
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(rocks_->db->Flush(fo, rocks_->cf), "flushing memtables");
}

absl::StatusOr<DeleteResult> RocksGraphStore::DeleteUser(const std::string& external_id) {
  std::lock_guard write_lock(write_mu_);
  absl::WriterMutexLock db_lock(&db_mu_);
  DeleteResult result;
  const std::optional<uint32_t> found = mirror_.users.Find(external_id);
  // Unknown id: still compact, so that retrying a DeleteUser that crashed after its (synced) WriteBatch but
  // before the compaction finishes the erasure.
  if (!found) {
    if (absl::Status s = EraseFromFiles(); !s.ok()) return s;
    return result;
  }
  const uint32_t user = *found;
  const RocksHandles& cf = *rocks_;
  rocksdb::WriteBatch wb;

  // Events: rewrite every batch record that holds one of the user's events (dense ids only, no names).
  codec::PersistedState st = state_;
  std::vector<SegmentInfo> segments = closed_;
  std::vector<uint64_t> starts = SegmentStarts();
  std::vector<uint64_t> removed_per_segment(starts.size(), 0);
  {
    std::unique_ptr<rocksdb::Iterator> it(cf.db->NewIterator(rocksdb::ReadOptions(), cf[kCfEvents]));
    std::vector<codec::LoggedEvent> logged;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!codec::DecodeEventRecord(std::string_view(it->value().data(), it->value().size()), &logged))
        return absl::DataLossError("events: undecodable record");
      if (std::none_of(logged.begin(), logged.end(), [&](const auto& e) { return e.user == user; })) continue;
      const uint64_t first = codec::GetBE64(it->key().data());
      codec::EventRecordWriter kept;
      for (const codec::LoggedEvent& e : logged) {
        if (e.user != user) {
          kept.Add(e);
          continue;
        }
        ++result.events_removed;
        const uint64_t seq = first + e.offset;
        ++removed_per_segment[std::upper_bound(starts.begin(), starts.end(), seq) - starts.begin() - 1];
      }
      if (kept.count() == 0)
        wb.Delete(cf[kCfEvents], it->key());
      else
        wb.Put(cf[kCfEvents], it->key(), kept.Finish());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning events");
  }
  for (size_t s = 0; s < segments.size(); ++s)
    if (removed_per_segment[s] > 0) {
      segments[s].events -= removed_per_segment[s];
      wb.Put(cf[kCfMeta], codec::SegmentKey(segments[s].index), codec::EncodeSegment(segments[s]));
    }
  st.open.events -= removed_per_segment.back();
  st.stored_events -= result.events_removed;

  for (uint32_t slot : mirror_.UserEdgeSlots(user)) {
    const MirrorEdge& e = mirror_.edge(slot);
    wb.Delete(cf[kCfUserItems], codec::EdgeKey(e.user, e.item));
    wb.Delete(cf[kCfItemUsers], codec::EdgeKey(e.item, e.user));
    ++result.edges_removed;
  }
  // The user's event-id keys: the meta 'E' range, whose values name the user (ids are not kept in memory).
  std::vector<GraphMirror::EventIdFingerprint> event_ids;
  {
    const std::string prefix(1, codec::kEventIdPrefix);
    std::unique_ptr<rocksdb::Iterator> it(cf.db->NewIterator(rocksdb::ReadOptions(), cf[kCfMeta]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      uint64_t seq;
      uint32_t owner;
      if (!codec::DecodeEventIdValue(std::string_view(it->value().data(), it->value().size()), &seq, &owner))
        return absl::DataLossError("meta: undecodable event id");
      if (owner != user) continue;
      event_ids.push_back(GraphMirror::Fingerprint(std::string_view(it->key().data() + 1, it->key().size() - 1)));
      wb.Delete(cf[kCfMeta], it->key());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning event ids");
  }
  wb.Delete(cf[kCfIds], codec::NameKey('u', external_id));
  wb.Delete(cf[kCfNames], codec::IdKey('u', user));
  wb.Put(cf[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (absl::Status s = FromRocks(cf.db->Write(WriteOpts(/*force_sync=*/true), &wb), "deleting user"); !s.ok())
    return s;
  {
    absl::WriterMutexLock state_lock(&state_mu_);
    mirror_.RemoveUserEdges(user);
    mirror_.users.Remove(user);
    for (const auto& id : event_ids) mirror_.event_ids.erase(id);
    closed_ = std::move(segments);
    state_ = st;
  }
  result.deleted = true;
  if (absl::Status s = EraseFromFiles(); !s.ok()) return s;
  return result;
}

// Makes the deleted bytes leave the directory: flush every memtable (so no live WAL holds them), rewrite every
// column family down to its last level (tombstones drop the old values; the replaced SSTs are deleted), then
// reopen RocksDB so a fresh MANIFEST replaces the old one (which names old files' boundary keys).
absl::Status RocksGraphStore::EraseFromFiles() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (absl::Status s = FromRocks(rocks_->db->Flush(fo, rocks_->cf), "flushing"); !s.ok()) return s;
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.exclusive_manual_compaction = true;
  for (auto* h : rocks_->cf)
    if (absl::Status s = FromRocks(rocks_->db->CompactRange(co, h, nullptr, nullptr), "compacting"); !s.ok())
      return s;
  rocks_.reset();
  absl::StatusOr<std::unique_ptr<RocksHandles>> reopened = OpenRocks(dir_, options_);
  if (!reopened.ok()) return reopened.status();
  rocks_ = std::move(*reopened);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GraphStore>> GraphStore::Open(const std::string& dir, const StoreOptions& options) {
  if (options.segments.unit == SegmentUnit::kEvents && options.segments.events_per_segment == 0)
    return absl::InvalidArgumentError("segments: events:N needs N > 0");
  if (!std::filesystem::exists(dir)) {
    if (!options.create_if_missing) return absl::NotFoundError(absl::StrCat("data directory ", dir, " missing"));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  }
  absl::StatusOr<std::unique_ptr<RocksHandles>> rocks = OpenRocks(dir, options);
  if (!rocks.ok()) return rocks.status();
  auto store = std::make_unique<RocksGraphStore>(dir, options, std::move(*rocks));
  if (absl::Status s = store->Load(); !s.ok()) return s;
  return store;
}

}  // namespace gpt4rec::storage
