// Open-time recovery: the persisted state, the id maps, the adjacency mirror and the closed segments, rebuilt
// from the column families (RocksDB already replayed its WAL). Event ids are not read (recent_event_ids.h).
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>
#include <string>
#include <string_view>

#include "rocksdb/db.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

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

  // An edge file a crash left before its ingestion: its values are still pending (replayed below).
  std::error_code ec;
  if (write_state_ == WriteState::kWritable) std::filesystem::remove(EdgeFilePath(), ec);
  // Sized up front from the counters, so no table rehashes or regrows while millions of entries are inserted;
  // scans read ahead and leave the block cache alone.
  mirror_.users.Reserve(state_.next_user, /*index_too=*/true);
  mirror_.items.Reserve(state_.next_item, /*index_too=*/true);
  mirror_.ReserveNodes(state_.next_user, state_.next_item);
  rocksdb::ReadOptions scan;
  scan.readahead_size = 4 << 20;
  scan.fill_cache = false;

  // names fills the id maps, user_items the rows: disjoint parts of the mirror, so the two scans run at once.
  auto scan_names = [&]() -> absl::Status {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, (*rocks_)[kCfNames]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() != 5) return absl::DataLossError("names: bad key");
      const uint32_t id = codec::GetBE32(k.data() + 1);
      (k[0] == 'u' ? mirror_.users : mirror_.items).Set(id, std::string_view(it->value().data(), it->value().size()));
    }
    return FromRocks(it->status(), "scanning names");
  };
  uint64_t edges_through = state_.next_sequence;  // stores without the key hold every value (layout 1)
  auto scan_edges = [&]() -> absl::Status {
    // Keys in (user, item) order: each user's row is appended to in item order, already sorted.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, (*rocks_)[kCfUserItems]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k == rocksdb::Slice(codec::kEdgesThroughKey.data(), codec::kEdgesThroughKey.size())) {
        if (it->value().size() != 8) return absl::DataLossError("user_items: undecodable edges-through key");
        edges_through = codec::GetBE64(it->value().data());
        edges_through_written_ = true;
        continue;
      }
      codec::EdgeValue v;
      if (k.size() != 8 || !codec::DecodeEdge(std::string_view(it->value().data(), it->value().size()), &v))
        return absl::DataLossError("user_items: undecodable entry");
      mirror_.AddEdgeInKeyOrder(codec::GetBE32(k.data()),
                                RowEdge{codec::GetBE32(k.data() + 4), v.first_segment, v.last_segment});
    }
    return FromRocks(it->status(), "scanning user_items");
  };
  absl::Status names_status;
  std::thread names_thread([&] { names_status = scan_names(); });
  const absl::Status edges_status = scan_edges();
  names_thread.join();
  if (!names_status.ok()) return names_status;
  if (!edges_status.ok()) return edges_status;

  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), (*rocks_)[kCfMeta]));
  // Only the closed segments: the event-id keys are not read on Open (the idempotency window starts empty and
  // RocksDB answers for older ids), so restart time does not grow with them.
  const std::string segments(1, codec::kSegmentPrefix);
  for (it->Seek(segments); it->Valid() && it->key().starts_with(segments); it->Next()) {
    const rocksdb::Slice k = it->key();
    const std::string_view v(it->value().data(), it->value().size());
    if (k.size() == 5) {
      SegmentInfo seg;
      if (!codec::DecodeSegment(v, &seg)) return absl::DataLossError("meta: undecodable segment");
      closed_.push_back(seg);
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning meta");
  it.reset();
  if (edges_through < state_.next_sequence)
    if (absl::Status s = ReplayEdges(edges_through); !s.ok()) return s;
  RepublishSnapshot();
  return absl::OkStatus();
}

// The events user_items does not cover yet (appended after its last edge file), from the event log, in
// sequence order: exactly the state AppendBatch had built in the mirror and in pending_edges_.
absl::Status RocksGraphStore::ReplayEdges(uint64_t from) {
  bool stopped = false;
  return ScanRange(from, state_.next_sequence, SegmentStarts(), [&](const StoredEvent& e) {
    codec::EdgeValue delta;
    delta.first_time = delta.last_time = e.timestamp;
    delta.count = 1;
    delta.last_type = e.event_type;
    delta.last_weight = e.weight;
    delta.first_segment = delta.last_segment = e.segment;
    if (mirror_.FindEdge(e.user, e.item) == nullptr)
      mirror_.AddEdge(e.user, RowEdge{e.item, e.segment, e.segment});
    else
      mirror_.TouchEdge(e.user, e.item, e.segment);
    pending_edges_.Add(e.user, e.item, delta);
    return true;
  }, &stopped);
}

}  // namespace gpt4rec::storage
