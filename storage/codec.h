// Private to storage/: the byte layout of every RocksDB key and value the graph store writes.
//
// Layout (one column family each):
//   events      BE64(first sequence of a batch)      -> packed events of that batch (EncodeEventRecord)
//   user_items  BE32(user) BE32(item)                 -> edge state (EncodeEdge), as merge operands (edge_merge.h)
//               kEdgesThroughKey (one zero byte)      -> BE64(sequence): values cover the events before it
//   item_users  BE32(item) BE32(user)                 -> edge state (same bytes); no longer written (*)
//   ids         'u'|'i' + external id                 -> BE32(dense id); no longer written (*)
//   names       'u'|'i' + BE32(dense id)               -> external id
//   meta        "state"                               -> counters + open segment (EncodeState)
//               'S' BE32(segment)                     -> closed segment (EncodeSegment)
//               'E' event_id                          -> varint(sequence) varint(user)
// (*) Never read: the mirror derives both reverse indexes on Open. Stores written before keep their old
//     entries there (DeleteUser still deletes a user's); the column families stay so that RocksDB opens them.
// Big-endian ids keep RocksDB's bytewise order equal to numeric order, so a user's edges are one key range.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/graph_store.h"

namespace gpt4rec::storage::codec {

void PutVarint64(std::string* out, uint64_t v);
// Advances *p; false when the input ends early or the varint is malformed.
bool GetVarint64(const char** p, const char* end, uint64_t* v);
inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutBE32(char* p, uint32_t v);
void PutBE64(char* p, uint64_t v);
uint32_t GetBE32(const char* p);
uint64_t GetBE64(const char* p);

std::string SequenceKey(uint64_t sequence);
// Adjacency key: the owner's id then the other end's id.
std::string EdgeKey(uint32_t owner, uint32_t other);

// Edge state as kept per (user, item); `other` is not stored in the value (it is in the key).
struct EdgeValue {
  int64_t first_time = 0;
  int64_t last_time = 0;
  uint32_t count = 0;
  int32_t last_type = 0;
  float last_weight = 0;
  uint32_t first_segment = 0;
  uint32_t last_segment = 0;  // the latest segment with an event on the edge (>= first_segment)
};
// Values written before last_segment existed end after first_segment; they decode with last = first.
void EncodeEdge(const EdgeValue& e, std::string* out);
// The same bytes into `out` (at least kMaxEdgeBytes); returns their count.
inline constexpr size_t kMaxEdgeBytes = 6 * 10 + 4;
size_t EncodeEdgeTo(const EdgeValue& e, char* out);
bool DecodeEdge(std::string_view in, EdgeValue* e);

// One event inside a batch record; `offset` = sequence - record's first sequence.
struct LoggedEvent {
  uint64_t offset = 0;
  uint32_t user = 0;
  uint32_t item = 0;
  int64_t timestamp = 0;
  int32_t event_type = 0;
  float weight = 0;
};
// Record = varint(count) then per event: varint offset, varint user, varint item, zigzag(time - previous time),
// zigzag type, 4 raw weight bytes (IEEE float, little-endian host order as written).
class EventRecordWriter {
 public:
  void Add(const LoggedEvent& e);
  uint32_t count() const { return count_; }
  std::string Finish() const;  // the record bytes

 private:
  std::string body_;  // grown in steps, written through a cursor (the append path's hottest encoder)
  size_t size_ = 0;
  uint32_t count_ = 0;
  int64_t prev_time_ = 0;
};
bool DecodeEventRecord(std::string_view in, std::vector<LoggedEvent>* out);

// Name/id map keys.
std::string NameKey(char kind, std::string_view external_id);  // kind 'u' or 'i'
std::string IdKey(char kind, uint32_t id);

// Persistent counters and the open segment; written with every batch.
struct PersistedState {
  uint64_t next_sequence = 1;  // sequences start at 1 (0 means "none")
  uint32_t next_user = 0;
  uint32_t next_item = 0;
  uint64_t stored_events = 0;
  SegmentInfo open;            // open.closed == false; end_sequence == next_sequence
  int64_t open_first_time = 0; // event time of the open segment's first event (bucket anchor)
  uint64_t applied_position = 0;  // cluster mode's log position; encoded only when set (older stores lack it)
};
std::string EncodeState(const PersistedState& s);
bool DecodeState(std::string_view in, PersistedState* s);

std::string SegmentKey(uint32_t index);
std::string EncodeSegment(const SegmentInfo& s);
bool DecodeSegment(std::string_view in, SegmentInfo* s);

std::string EventIdKey(std::string_view event_id);
std::string EncodeEventIdValue(uint64_t sequence, uint32_t user);
bool DecodeEventIdValue(std::string_view in, uint64_t* sequence, uint32_t* user);

inline constexpr char kStateKey[] = "state";
inline constexpr char kSegmentPrefix = 'S';
inline constexpr char kEventIdPrefix = 'E';
// In user_items, sorting before every edge key: BE64(sequence) such that user_items holds the values of every
// event before it; the events from it on are replayed from the event log on Open (storage/pending_edges.h).
// Stores written before it existed (layout version 1) hold every edge value: the store writes this key with
// its first append, in the same WriteBatch.
inline constexpr std::string_view kEdgesThroughKey("\0", 1);

}  // namespace gpt4rec::storage::codec
