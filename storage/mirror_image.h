// Private to storage/: the mirror image, one file `mirror.image` in the data directory holding the in-memory
// mirror's arrays as they are (both id spaces' arenas and offsets, every user row sorted by item, every item
// row), so that Open loads them with a few copies instead of scanning `names` and `user_items` (storage/
// README.md, "Restart").
//
// File: a 128-byte header, then the body. Header: magic "G4RMIRR1", version, an endianness marker, the
// sequence S the image covers (every event before S is in it, none after), a fingerprint of the event log at S
// (key and hash of the last batch record before S), stored_events at S, the arrays' sizes, the body's size
// and hash, and the header's own hash. Written to `mirror.image.tmp`, fsynced, renamed over `mirror.image`,
// the directory fsynced: a reader sees a whole old image, a whole new one, or none.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "storage/graph_mirror.h"

namespace gpt4rec::storage {

// What the image says about itself; filled by MirrorImage::Read before anything is loaded.
struct MirrorImageHeader {
  uint64_t sequence = 0;       // S: the image holds exactly the events before it
  uint64_t log_key = 0;        // first sequence of the last event-log record before S (0: none)
  uint64_t log_hash = 0;       // MirrorImage::Hash of that record's value
  uint64_t stored_events = 0;  // PersistedState::stored_events at S
  uint32_t users = 0;          // id-space sizes (slots)
  uint32_t items = 0;
  uint64_t users_arena = 0;  // bytes
  uint64_t items_arena = 0;
  uint64_t edges = 0;
  uint64_t body_bytes = 0;
  uint64_t body_hash = 0;
};

class MirrorImage {
 public:
  static constexpr const char* kFileName = "mirror.image";
  static constexpr const char* kTempName = "mirror.image.tmp";

  // A 64-bit hash of `n` bytes (xxh64-like, 4 lanes; for detecting damage, not adversaries).
  static uint64_t Hash(const void* data, size_t n);

  // Bytes the image of `m` will take (to check the free space first).
  static uint64_t SizeOf(const GraphMirror& m);

  // Writes the image of `m` covering the events before `h.sequence` (h's log and stored_events fields set by
  // the caller; the sizes and hashes are filled here) into `dir`: temp file, fsync, rename, fsync of `dir`.
  // On any error the temp file is removed and the old image (if any) is left as it was.
  static absl::Status Write(const std::string& dir, const GraphMirror& m, MirrorImageHeader h);

  // An open, checked image: the file is mapped and its header and body hashes verified, its arrays' sizes and
  // every id in its rows checked against each other and against `max_sequence`, `max_users`, `max_items` (the
  // store's counters). Load then copies it into an empty mirror (it cannot fail once Open succeeded).
  class Reader {
   public:
    ~Reader();
    const MirrorImageHeader& header() const { return h_; }
    // Fills `m` (empty: Clear()ed or new) with the image's ids and rows; the name indexes are sized for
    // `users` / `items` names (the store's counters: ids given out after the image follow without a rehash).
    void Load(GraphMirror* m, uint32_t users, uint32_t items) const;

   private:
    friend class MirrorImage;
    MirrorImageHeader h_;
    uint32_t row_users_ = 0, row_items_ = 0;  // row counts (>= the id spaces' sizes)
    const char* base_ = nullptr;
    size_t size_ = 0;
  };
  // NotFound when there is no image; DataLoss (with the reason) when it is damaged or inconsistent.
  static absl::Status Open(const std::string& dir, uint64_t max_sequence, uint32_t max_users, uint32_t max_items,
                           Reader* reader);

  // Removes the image and fsyncs `dir` (a missing image is OK).
  static absl::Status Remove(const std::string& dir);

 private:
  static void LoadInto(const Reader& r, GraphMirror* m, uint32_t users, uint32_t items);
};

}  // namespace gpt4rec::storage
