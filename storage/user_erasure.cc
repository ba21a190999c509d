// DeleteUser: the user's events, edges, event-id keys and id mapping removed in one synced WriteBatch, then a
// full compaction and reopen so the external id is in no live file (storage/README.md, "Deleting a user").
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "absl/strings/str_cat.h"
#include "storage/codec.h"
#include "storage/mirror_image.h"
#include "storage/rocks_graph_store.h"

namespace gpt4rec::storage {

absl::StatusOr<DeleteResult> RocksGraphStore::DeleteUser(const std::string& external_id) {
  std::lock_guard write_lock(write_mu_);
  if (absl::Status s = AdmitWrite(); !s.ok()) return s;  // before db_mu_: recovery may take it
  // user_items must hold every edge value first: the deletes below cover what is on disk, and the events
  // that would be replayed into pending values are among those removed.
  if (absl::Status s = IngestPendingEdges(); !s.ok()) return s;
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
  // The image holds the user's rows and name: gone before the delete is written, so that no crash after it
  // can bring the user back from the image; rewritten without the user once the erasure is done.
  if (absl::Status s = MirrorImage::Remove(dir_); !s.ok()) return s;
  image_sequence_ = 0;
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

  for (const RowEdge& e : mirror_.UserRow(user)) {
    wb.Delete(cf[kCfUserItems], codec::EdgeKey(user, e.item));
    wb.Delete(cf[kCfItemUsers], codec::EdgeKey(e.item, user));  // stores written before it was dropped
    ++result.edges_removed;
  }
  // The user's event-id keys: the meta 'E' range, whose values name the user (ids are not kept in memory).
  std::vector<RecentEventIds::Fingerprint> event_ids;
  {
    const std::string prefix(1, codec::kEventIdPrefix);
    std::unique_ptr<rocksdb::Iterator> it(cf.db->NewIterator(rocksdb::ReadOptions(), cf[kCfMeta]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      uint64_t seq;
      uint32_t owner;
      if (!codec::DecodeEventIdValue(std::string_view(it->value().data(), it->value().size()), &seq, &owner))
        return absl::DataLossError("meta: undecodable event id");
      if (owner != user) continue;
      event_ids.push_back(RecentEventIds::Of(std::string_view(it->key().data() + 1, it->key().size() - 1)));
      wb.Delete(cf[kCfMeta], it->key());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning event ids");
  }
  wb.Delete(cf[kCfIds], codec::NameKey('u', external_id));  // stores written before `ids` was dropped
  wb.Delete(cf[kCfNames], codec::IdKey('u', user));
  wb.Put(cf[kCfMeta], codec::kStateKey, codec::EncodeState(st));
  if (rocksdb::Status s = cf.db->Write(WriteOpts(/*force_sync=*/true), &wb); !s.ok())
    return WriteFailed(s, "deleting user");
  {
    const rocksdb::Snapshot* snapshot = TakeSnapshot();
    absl::WriterMutexLock state_lock(&state_mu_);
    std::swap(published_, snapshot);
    ReleaseSnapshot(snapshot);  // db_mu_ is held exclusively: no reader holds it
    mirror_.RemoveUserEdges(user);
    mirror_.users.Remove(user);
    for (const auto& id : event_ids) mirror_.event_ids.Erase(id);
    closed_ = std::move(segments);
    state_ = st;
  }
  result.deleted = true;
  if (absl::Status s = EraseFromFiles(); !s.ok()) return s;
  WriteImage("delete user");
  return result;
}

// Makes the deleted bytes leave the directory: flush every memtable (so no live WAL holds them), rewrite every
// column family down to its last level (tombstones drop the old values; the replaced SSTs are deleted), then
// reopen RocksDB so a fresh MANIFEST replaces the old one (which names old files' boundary keys).
absl::Status RocksGraphStore::EraseFromFiles() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (rocksdb::Status s = rocks_->db->Flush(fo, rocks_->cf); !s.ok()) return WriteFailed(s, "flushing");
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.exclusive_manual_compaction = true;
  for (auto* h : rocks_->cf)
    if (rocksdb::Status s = rocks_->db->CompactRange(co, h, nullptr, nullptr); !s.ok())
      return WriteFailed(s, "compacting");
  DropPublishedSnapshot();
  rocks_.reset();
  absl::StatusOr<std::unique_ptr<RocksHandles>> reopened = OpenRocks(dir_, options_);
  if (!reopened.ok()) return reopened.status();
  rocks_ = std::move(*reopened);
  RepublishSnapshot();
  return absl::OkStatus();
}

}  // namespace gpt4rec::storage
