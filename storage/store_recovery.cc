// Open-time recovery: the persisted state, the id maps, the adjacency mirror and the closed segments, rebuilt
// from the column families (RocksDB already replayed its WAL). Event ids are not read (recent_event_ids.h).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>
#include <memory>
#include <system_error>
#include <thread>
#include <string>
#include <string_view>

#include "rocksdb/db.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/env.h"
#include "storage/codec.h"
#include "storage/disk_space.h"
#include "storage/mirror_image.h"
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
  // The closed segments first: the replay below needs their starts.
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

  // The mirror: from the image (plus the log after it) when one is valid, else scanned from the column
  // families (plus the log after kEdgesThroughKey).
  uint64_t edges_through = state_.next_sequence, image_sequence = 0;
  const bool from_image = LoadImage(&image_sequence, &edges_through);
  uint64_t replayed = 0;
  if (from_image) {
    if (absl::Status s = ReplayEdges(image_sequence, edges_through, &replayed); !s.ok()) return s;
    // Every stored event is in the image or in the log after it, unless a user was deleted since the image
    // was written (DeleteUser removes the image first; a binary from before images would not): then the
    // counts differ and the image may hold the deleted user. Start again from the column families.
    if (image_info_.stored_events_at_image + replayed != state_.stored_events) {
      image_info_.loaded = false;
      image_info_.not_loaded_why = absl::StrCat("mirror image: ", image_info_.stored_events_at_image, " + ",
                                                replayed, " replayed events != ", state_.stored_events,
                                                " stored (a delete since the image)");
      mirror_.Clear();
      pending_edges_.Clear();
    }
  }
  if (!image_info_.loaded) {
    if (!image_info_.not_loaded_why.empty() && image_info_.not_loaded_why != "no mirror image") {
      LogWarning(absl::StrCat("not using the mirror image: ", image_info_.not_loaded_why));
      // Never again: after a lost WAL tail, later appends could bring the sequence past it.
      if (write_state_ == WriteState::kWritable) MirrorImage::Remove(dir_).IgnoreError();
    }
    edges_through = state_.next_sequence;
    if (absl::Status s = ScanMirror(&edges_through); !s.ok()) return s;
    if (edges_through < state_.next_sequence)
      if (absl::Status s = ReplayEdges(edges_through, edges_through, &replayed); !s.ok()) return s;
  } else {
    image_sequence_ = image_sequence;
  }
  image_info_.replayed = replayed;
  RepublishSnapshot();
  return absl::OkStatus();
}

absl::Status RocksGraphStore::ScanMirror(uint64_t* edges_through) {
  rocksdb::DB* db = rocks_->db;
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
  *edges_through = state_.next_sequence;  // stores without the key hold every value (layout 1)
  auto scan_edges = [&]() -> absl::Status {
    // Keys in (user, item) order: each user's row is appended to in item order, already sorted.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, (*rocks_)[kCfUserItems]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k == rocksdb::Slice(codec::kEdgesThroughKey.data(), codec::kEdgesThroughKey.size())) {
        if (it->value().size() != 8) return absl::DataLossError("user_items: undecodable edges-through key");
        *edges_through = codec::GetBE64(it->value().data());
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
  return absl::OkStatus();
}

absl::Status RocksGraphStore::LogFingerprint(uint64_t sequence, uint64_t* key, uint64_t* hash) const {
  *key = *hash = 0;
  if (sequence <= 1) return absl::OkStatus();
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(rocksdb::ReadOptions(), (*rocks_)[kCfEvents]));
  char seek[8];
  codec::PutBE64(seek, sequence - 1);
  it->SeekForPrev(rocksdb::Slice(seek, 8));
  if (it->Valid()) {
    if (it->key().size() != 8) return absl::DataLossError("events: bad key");
    *key = codec::GetBE64(it->key().data());
    *hash = MirrorImage::Hash(it->value().data(), it->value().size());
  }
  return FromRocks(it->status(), "reading the event log");
}

bool RocksGraphStore::LoadImage(uint64_t* image_sequence, uint64_t* edges_through) {
  MirrorImage::Reader reader;
  absl::Status s = MirrorImage::Open(dir_, state_.next_sequence, state_.next_user, state_.next_item, &reader);
  const MirrorImageHeader& h = reader.header();
  uint64_t key = 0, hash = 0;
  if (s.ok()) s = LogFingerprint(h.sequence, &key, &hash);
  if (s.ok() && (key != h.log_key || hash != h.log_hash))
    s = absl::DataLossError("mirror image: the event log before its sequence differs");
  std::string through;
  rocksdb::Status rs;
  if (s.ok()) {
    rs = rocks_->db->Get(rocksdb::ReadOptions(), (*rocks_)[kCfUserItems],
                         rocksdb::Slice(codec::kEdgesThroughKey.data(), codec::kEdgesThroughKey.size()), &through);
    if (!rs.ok() && !rs.IsNotFound()) s = FromRocks(rs, "reading the edges-through key");
    else if (rs.ok() && through.size() != 8) s = absl::DataLossError("user_items: undecodable edges-through key");
  }
  if (!s.ok()) {
    image_info_.not_loaded_why = std::string(s.message());
    return false;
  }
  if (rs.ok()) {
    *edges_through = codec::GetBE64(through.data());
    edges_through_written_ = true;
  }
  reader.Load(&mirror_, state_.next_user, state_.next_item);
  // Ids given out after the image: their names from `names` (keys are side + BE32 id, in id order).
  mirror_.users.Reserve(state_.next_user);
  mirror_.items.Reserve(state_.next_item);
  mirror_.ReserveNodes(state_.next_user, state_.next_item);
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(ro, (*rocks_)[kCfNames]));
  for (const auto& [side, from] : {std::pair{'u', h.users}, std::pair{'i', h.items}}) {
    const std::string start = codec::IdKey(side, from);
    for (it->Seek(start); it->Valid() && it->key().size() == 5 && it->key()[0] == side; it->Next())
      (side == 'u' ? mirror_.users : mirror_.items)
          .Set(codec::GetBE32(it->key().data() + 1), std::string_view(it->value().data(), it->value().size()));
  }
  if (!it->status().ok()) {
    image_info_.not_loaded_why = it->status().ToString();
    mirror_.Clear();
    return false;
  }
  *image_sequence = h.sequence;
  image_info_.loaded = true;
  image_info_.sequence = h.sequence;
  image_info_.stored_events_at_image = h.stored_events;
  return true;
}

void RocksGraphStore::LogWarning(const std::string& message) const {
  if (rocks_ != nullptr)
    rocksdb::Log(rocksdb::InfoLogLevel::WARN_LEVEL, rocks_->db->GetDBOptions().info_log, "%s", message.c_str());
}

void RocksGraphStore::WriteImage(const char* why) {
  if (write_state_ != WriteState::kWritable) return;
  auto skip = [&](const std::string& reason) {
    ++image_info_.image_failures;
    LogWarning(absl::StrCat("mirror image (", why, ") not written: ", reason));
  };
  // The image must not take the room the reserve keeps for RocksDB.
  const uint64_t bytes = MirrorImage::SizeOf(mirror_);
  const absl::StatusOr<uint64_t> free = FreeDiskBytes(dir_);
  if (free.ok() && *free < options_.min_free_disk_bytes + bytes)
    return skip(absl::StrCat(HumanBytes(*free), " free, the image takes ", HumanBytes(bytes), " above the ",
                             HumanBytes(options_.min_free_disk_bytes), " reserve"));
  const auto start = std::chrono::steady_clock::now();
  MirrorImageHeader h;
  h.sequence = state_.next_sequence;
  h.stored_events = state_.stored_events;
  if (absl::Status s = LogFingerprint(h.sequence, &h.log_key, &h.log_hash); !s.ok()) return skip(s.ToString());
  if (absl::Status s = MirrorImage::Write(dir_, mirror_, h); !s.ok()) return skip(s.ToString());
  image_sequence_ = h.sequence;
  ++image_info_.images_written;
  image_info_.image_bytes_written += bytes;
  image_info_.image_write_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The events user_items does not cover yet (appended after its last edge file), from the event log, in
// sequence order: exactly the state AppendBatch had built in the mirror and in pending_edges_.
absl::Status RocksGraphStore::ReplayEdges(uint64_t mirror_from, uint64_t pending_from, uint64_t* replayed) {
  bool stopped = false;
  *replayed = 0;
  return ScanRange(std::min(mirror_from, pending_from), state_.next_sequence, SegmentStarts(),
                   [&](const StoredEvent& e) {
    if (e.sequence >= mirror_from) {
      ++*replayed;
      if (mirror_.FindEdge(e.user, e.item) == nullptr)
        mirror_.AddEdge(e.user, RowEdge{e.item, e.segment, e.segment});
      else
        mirror_.TouchEdge(e.user, e.item, e.segment);
    }
    if (e.sequence < pending_from) return true;
    codec::EdgeValue delta;
    delta.first_time = delta.last_time = e.timestamp;
    delta.count = 1;
    delta.last_type = e.event_type;
    delta.last_weight = e.weight;
    delta.first_segment = delta.last_segment = e.segment;
    pending_edges_.Add(e.user, e.item, delta);
    return true;
  }, &stopped);
}

}  // namespace gpt4rec::storage
