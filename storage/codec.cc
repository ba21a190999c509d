#include "storage/codec.h"

#include <algorithm>
#include <cstring>

namespace gpt4rec::storage::codec {

void PutVarint64(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

bool GetVarint64(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
    const uint64_t byte = static_cast<unsigned char>(**p);
    ++*p;
    result |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}

void PutBE32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}
void PutBE64(char* p, uint64_t v) {
  PutBE32(p, static_cast<uint32_t>(v >> 32));
  PutBE32(p + 4, static_cast<uint32_t>(v));
}
uint32_t GetBE32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
uint64_t GetBE64(const char* p) { return (uint64_t{GetBE32(p)} << 32) | GetBE32(p + 4); }

std::string SequenceKey(uint64_t sequence) {
  std::string k(8, '\0');
  PutBE64(k.data(), sequence);
  return k;
}

std::string EdgeKey(uint32_t owner, uint32_t other) {
  std::string k(8, '\0');
  PutBE32(k.data(), owner);
  PutBE32(k.data() + 4, other);
  return k;
}

static void PutFloat(std::string* out, float f) {
  char b[4];
  std::memcpy(b, &f, 4);
  out->append(b, 4);
}
static bool GetFloat(const char** p, const char* end, float* f) {
  if (end - *p < 4) return false;
  std::memcpy(f, *p, 4);
  *p += 4;
  return true;
}

namespace {
char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
}  // namespace

size_t EncodeEdgeTo(const EdgeValue& e, char* out) {
  char* p = out;
  p = WriteVarint(p, static_cast<uint64_t>(e.first_time));
  p = WriteVarint(p, static_cast<uint64_t>(e.last_time - e.first_time));
  p = WriteVarint(p, e.count);
  p = WriteVarint(p, ZigZag(e.last_type));
  std::memcpy(p, &e.last_weight, 4);
  p += 4;
  p = WriteVarint(p, e.first_segment);
  p = WriteVarint(p, e.last_segment - e.first_segment);
  return static_cast<size_t>(p - out);
}

void EncodeEdge(const EdgeValue& e, std::string* out) {
  char buf[kMaxEdgeBytes];
  out->append(buf, EncodeEdgeTo(e, buf));
}

bool DecodeEdge(std::string_view in, EdgeValue* e) {
  const char* p = in.data();
  const char* end = p + in.size();
  uint64_t first, span, count, type, seg;
  if (!GetVarint64(&p, end, &first) || !GetVarint64(&p, end, &span) || !GetVarint64(&p, end, &count) ||
      !GetVarint64(&p, end, &type) || !GetFloat(&p, end, &e->last_weight) || !GetVarint64(&p, end, &seg))
    return false;
  e->first_time = static_cast<int64_t>(first);
  e->last_time = static_cast<int64_t>(first + span);
  e->count = static_cast<uint32_t>(count);
  e->last_type = static_cast<int32_t>(UnZigZag(type));
  e->first_segment = static_cast<uint32_t>(seg);
  uint64_t later = 0;  // absent in values written before last_segment existed
  if (p != end && !GetVarint64(&p, end, &later)) return false;
  e->last_segment = static_cast<uint32_t>(seg + later);
  return p == end;
}

void EventRecordWriter::Add(const LoggedEvent& e) {
  constexpr size_t kMaxEntry = 5 * 10 + 4;
  if (body_.size() < size_ + kMaxEntry) body_.resize(std::max(body_.size() * 2, size_ + kMaxEntry * 64));
  char* p = body_.data() + size_;
  p = WriteVarint(p, e.offset);
  p = WriteVarint(p, e.user);
  p = WriteVarint(p, e.item);
  p = WriteVarint(p, ZigZag(e.timestamp - prev_time_));
  p = WriteVarint(p, ZigZag(e.event_type));
  std::memcpy(p, &e.weight, 4);
  size_ = static_cast<size_t>(p + 4 - body_.data());
  prev_time_ = e.timestamp;
  ++count_;
}

std::string EventRecordWriter::Finish() const {
  std::string out;
  out.reserve(size_ + 5);
  PutVarint64(&out, count_);
  out.append(body_.data(), size_);
  return out;
}

bool DecodeEventRecord(std::string_view in, std::vector<LoggedEvent>* out) {
  const char* p = in.data();
  const char* end = p + in.size();
  uint64_t count;
  if (!GetVarint64(&p, end, &count)) return false;
  out->clear();
  out->reserve(count);
  int64_t prev_time = 0;
  for (uint64_t i = 0; i < count; ++i) {
    LoggedEvent e;
    uint64_t user, item, dt, type;
    if (!GetVarint64(&p, end, &e.offset) || !GetVarint64(&p, end, &user) || !GetVarint64(&p, end, &item) ||
        !GetVarint64(&p, end, &dt) || !GetVarint64(&p, end, &type) || !GetFloat(&p, end, &e.weight))
      return false;
    e.user = static_cast<uint32_t>(user);
    e.item = static_cast<uint32_t>(item);
    e.timestamp = prev_time + UnZigZag(dt);
    prev_time = e.timestamp;
    e.event_type = static_cast<int32_t>(UnZigZag(type));
    out->push_back(e);
  }
  return p == end;
}

std::string NameKey(char kind, std::string_view external_id) {
  std::string k;
  k.reserve(external_id.size() + 1);
  k.push_back(kind);
  k.append(external_id);
  return k;
}

std::string IdKey(char kind, uint32_t id) {
  std::string k(5, kind);
  PutBE32(k.data() + 1, id);
  return k;
}

static void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  PutBE64(b, v);
  out->append(b, 8);
}
static bool GetFixed64(const char** p, const char* end, uint64_t* v) {
  if (end - *p < 8) return false;
  *v = GetBE64(*p);
  *p += 8;
  return true;
}

static void PutSegmentFields(std::string* out, const SegmentInfo& s) {
  PutFixed64(out, s.index);
  PutFixed64(out, s.first_sequence);
  PutFixed64(out, s.end_sequence);
  PutFixed64(out, static_cast<uint64_t>(s.min_time));
  PutFixed64(out, static_cast<uint64_t>(s.max_time));
  PutFixed64(out, s.events);
}
static bool GetSegmentFields(const char** p, const char* end, SegmentInfo* s) {
  uint64_t index, first, last, min_t, max_t, events;
  if (!GetFixed64(p, end, &index) || !GetFixed64(p, end, &first) || !GetFixed64(p, end, &last) ||
      !GetFixed64(p, end, &min_t) || !GetFixed64(p, end, &max_t) || !GetFixed64(p, end, &events))
    return false;
  s->index = static_cast<uint32_t>(index);
  s->first_sequence = first;
  s->end_sequence = last;
  s->min_time = static_cast<int64_t>(min_t);
  s->max_time = static_cast<int64_t>(max_t);
  s->events = events;
  return true;
}

std::string EncodeState(const PersistedState& s) {
  std::string out;
  PutFixed64(&out, s.next_sequence);
  PutFixed64(&out, s.next_user);
  PutFixed64(&out, s.next_item);
  PutFixed64(&out, s.stored_events);
  PutFixed64(&out, static_cast<uint64_t>(s.open_first_time));
  PutSegmentFields(&out, s.open);
  if (s.applied_position > 0) PutFixed64(&out, s.applied_position);
  return out;
}

bool DecodeState(std::string_view in, PersistedState* s) {
  const char* p = in.data();
  const char* end = p + in.size();
  uint64_t next_user, next_item, first_time;
  if (!GetFixed64(&p, end, &s->next_sequence) || !GetFixed64(&p, end, &next_user) ||
      !GetFixed64(&p, end, &next_item) || !GetFixed64(&p, end, &s->stored_events) ||
      !GetFixed64(&p, end, &first_time) || !GetSegmentFields(&p, end, &s->open))
    return false;
  s->next_user = static_cast<uint32_t>(next_user);
  s->next_item = static_cast<uint32_t>(next_item);
  s->open_first_time = static_cast<int64_t>(first_time);
  s->open.closed = false;
  s->applied_position = 0;
  if (p != end && !GetFixed64(&p, end, &s->applied_position)) return false;
  return p == end;
}

std::string SegmentKey(uint32_t index) {
  std::string k(5, kSegmentPrefix);
  PutBE32(k.data() + 1, index);
  return k;
}

std::string EncodeSegment(const SegmentInfo& s) {
  std::string out;
  PutSegmentFields(&out, s);
  return out;
}

bool DecodeSegment(std::string_view in, SegmentInfo* s) {
  const char* p = in.data();
  if (!GetSegmentFields(&p, p + in.size(), s)) return false;
  s->closed = true;
  return p == in.data() + in.size();
}

std::string EventIdKey(std::string_view event_id) { return NameKey(kEventIdPrefix, event_id); }

std::string EncodeEventIdValue(uint64_t sequence, uint32_t user) {
  std::string out;
  PutVarint64(&out, sequence);
  PutVarint64(&out, user);
  return out;
}

bool DecodeEventIdValue(std::string_view in, uint64_t* sequence, uint32_t* user) {
  const char* p = in.data();
  const char* end = p + in.size();
  uint64_t u;
  if (!GetVarint64(&p, end, sequence) || !GetVarint64(&p, end, &u)) return false;
  *user = static_cast<uint32_t>(u);
  return p == end;
}

}  // namespace gpt4rec::storage::codec
