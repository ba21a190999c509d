#include "server/log_entry.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace gpt4rec::server {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

void PutString(std::string* out, const std::string& s) {
  Put<uint16_t>(out, static_cast<uint16_t>(s.size()));  // ids are at most 256 bytes (validated before)
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string* s) {
    uint16_t n;
    if (!Get(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeLogEntry(const LogEntry& entry) {
  std::string out;
  switch (entry.kind) {
    case LogEntry::Kind::kEvents:
      out.reserve(5 + entry.events.size() * 40);
      out.push_back('E');
      Put<uint32_t>(&out, static_cast<uint32_t>(entry.events.size()));
      for (const storage::Event& ev : entry.events) {
        PutString(&out, ev.user_id);
        PutString(&out, ev.item_id);
        Put<int64_t>(&out, ev.timestamp);
        Put<int32_t>(&out, ev.event_type);
        Put<float>(&out, ev.weight);
        PutString(&out, ev.event_id);
      }
      break;
    case LogEntry::Kind::kCloseSegment:
      out.push_back('C');
      Put<uint64_t>(&out, entry.nonce);
      break;
    case LogEntry::Kind::kDeleteUser:
      out.push_back('D');
      PutString(&out, entry.user_id);
      break;
  }
  return out;
}

absl::StatusOr<LogEntry> DecodeLogEntry(std::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("log entry: empty");
  LogEntry entry;
  Reader r(bytes.substr(1));
  bool ok = false;
  switch (bytes[0]) {
    case 'E': {
      entry.kind = LogEntry::Kind::kEvents;
      uint32_t n = 0;
      ok = r.Get(&n) && n <= bytes.size() / 22;  // an event takes at least 22 bytes: no huge allocation
      if (ok) entry.events.resize(n);
      for (uint32_t i = 0; ok && i < n; ++i) {
        storage::Event& ev = entry.events[i];
        ok = r.GetString(&ev.user_id) && r.GetString(&ev.item_id) && r.Get(&ev.timestamp) &&
             r.Get(&ev.event_type) && r.Get(&ev.weight) && r.GetString(&ev.event_id);
      }
      break;
    }
    case 'C':
      entry.kind = LogEntry::Kind::kCloseSegment;
      ok = r.Get(&entry.nonce);
      break;
    case 'D':
      entry.kind = LogEntry::Kind::kDeleteUser;
      ok = r.GetString(&entry.user_id);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("log entry: unknown kind byte ", static_cast<int>(bytes[0])));
  }
  if (!ok || !r.done()) return absl::InvalidArgumentError("log entry: truncated or trailing bytes");
  return entry;
}

}  // namespace gpt4rec::server
