#include "storage/mirror_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gpt4rec::storage {

namespace {

constexpr char kMagic[8] = {'G', '4', 'R', 'M', 'I', 'R', 'R', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kEndian = 0x01020304;

// The header as it is on disk (native byte order; kEndian tells a foreign one apart).
struct RawHeader {
  char magic[8];
  uint32_t version;
  uint32_t endian;
  uint64_t sequence, log_key, log_hash, stored_events;
  uint32_t users, items, row_users, row_items;
  uint64_t users_arena, items_arena, edges, body_bytes, body_hash;
  uint64_t header_hash;  // of every byte before it
  char pad[128 - 112];
};
static_assert(sizeof(RawHeader) == 128, "fixed header");
static_assert(sizeof(RowEdge) == 12, "rows are written as they are");

constexpr uint64_t P1 = 11400714785092957063ull, P2 = 14029467366897019727ull, P3 = 1609587929392839161ull,
                   P4 = 9650029242287828579ull, P5 = 2870177450012600261ull;
inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Round(uint64_t acc, uint64_t in) { return Rotl(acc + in * P2, 31) * P1; }
inline uint64_t MergeRound(uint64_t acc, uint64_t v) { return (acc ^ Round(0, v)) * P1 + P4; }
inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// XXH64's structure, streamed (the writer hashes as it writes).
class Hasher {
 public:
  void Update(const void* data, size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    total_ += n;
    if (nbuf_ > 0) {
      const size_t take = std::min(n, 32 - nbuf_);
      std::memcpy(buf_ + nbuf_, p, take);
      nbuf_ += take;
      p += take;
      n -= take;
      if (nbuf_ < 32) return;
      Stripe(buf_);
      nbuf_ = 0;
    }
    for (; n >= 32; p += 32, n -= 32) Stripe(p);
    std::memcpy(buf_, p, n);
    nbuf_ = n;
  }
  uint64_t Final() const {
    uint64_t h = total_ >= 32 ? Rotl(v_[0], 1) + Rotl(v_[1], 7) + Rotl(v_[2], 12) + Rotl(v_[3], 18) : P5;
    if (total_ >= 32)
      for (uint64_t v : v_) h = MergeRound(h, v);
    h += total_;
    const unsigned char* p = buf_;
    size_t n = nbuf_;
    for (; n >= 8; p += 8, n -= 8) h = Rotl(h ^ Round(0, Load64(p)), 27) * P1 + P4;
    for (; n > 0; ++p, --n) h = Rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
  }

 private:
  void Stripe(const unsigned char* p) {
    for (int k = 0; k < 4; ++k) v_[k] = Round(v_[k], Load64(p + 8 * k));
  }
  uint64_t v_[4] = {P1 + P2, P2, 0, 0 - P1};
  unsigned char buf_[32];
  size_t nbuf_ = 0;
  uint64_t total_ = 0;
};

std::string Errno(const std::string& what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return absl::InternalError(Errno(absl::StrCat("opening ", dir)));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return absl::InternalError(Errno(absl::StrCat("fsync of ", dir)));
  return absl::OkStatus();
}

// Buffered writes of the body, hashed on the way.
class BodyWriter {
 public:
  explicit BodyWriter(int fd) : fd_(fd) { buf_.reserve(kBuf); }
  void Append(const void* data, size_t n) {
    hasher_.Update(data, n);
    bytes_ += n;
    const char* p = static_cast<const char*>(data);
    while (n > 0 && ok_) {
      const size_t take = std::min(n, kBuf - buf_.size());
      buf_.append(p, take);
      p += take;
      n -= take;
      if (buf_.size() == kBuf) Drain();
    }
  }
  bool Finish() {
    Drain();
    return ok_;
  }
  uint64_t bytes() const { return bytes_; }
  uint64_t hash() const { return hasher_.Final(); }
  const std::string& error() const { return error_; }

 private:
  static constexpr size_t kBuf = 1 << 20;
  void Drain() {
    size_t done = 0;
    while (ok_ && done < buf_.size()) {
      const ssize_t w = ::write(fd_, buf_.data() + done, buf_.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok_ = false;
        error_ = Errno("writing the mirror image");
        break;
      }
      done += static_cast<size_t>(w);
    }
    buf_.clear();
  }
  int fd_;
  std::string buf_;
  Hasher hasher_;
  uint64_t bytes_ = 0;
  bool ok_ = true;
  std::string error_;
};

}  // namespace

uint64_t MirrorImage::Hash(const void* data, size_t n) {
  Hasher h;
  h.Update(data, n);
  return h.Final();
}

uint64_t MirrorImage::SizeOf(const GraphMirror& m) {
  return sizeof(RawHeader) + uint64_t{m.users.size()} * 5 + m.users.arena_.size() + uint64_t{m.items.size()} * 5 +
         m.items.arena_.size() + uint64_t{m.user_rows_.nodes()} * 4 + uint64_t{m.item_rows_.nodes()} * 4 +
         m.live_edges() * (sizeof(RowEdge) + 4);
}

absl::Status MirrorImage::Write(const std::string& dir, const GraphMirror& m, MirrorImageHeader h) {
  const std::string tmp = (std::filesystem::path(dir) / kTempName).string();
  const std::string final_path = (std::filesystem::path(dir) / kFileName).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(Errno(absl::StrCat("creating ", tmp)));
  auto fail = [&](std::string why) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return absl::InternalError(std::move(why));
  };
  if (::lseek(fd, sizeof(RawHeader), SEEK_SET) < 0) return fail(Errno("seeking"));
  BodyWriter out(fd);
  for (const IdSpace* ids : {&m.users, &m.items}) {
    out.Append(ids->offset_.data(), ids->offset_.size() * sizeof(uint32_t));
    out.Append(ids->len_minus_1_.data(), ids->len_minus_1_.size());
    out.Append(ids->arena_.data(), ids->arena_.size());
  }
  // Degrees first (the reader sizes the rows from them), then the rows themselves.
  const uint32_t row_users = m.user_rows_.nodes(), row_items = m.item_rows_.nodes();
  for (uint32_t u = 0; u < row_users; ++u) {
    const uint32_t d = m.user_rows_.size(u);
    out.Append(&d, 4);
  }
  std::vector<RowEdge> sorted;
  uint64_t edges = 0;
  for (uint32_t u = 0; u < row_users; ++u) {
    const uint32_t n = m.user_rows_.size(u);
    if (n == 0) continue;
    const RowEdge* row = m.user_rows_.data(u);
    if (m.user_sorted_[u] < n) {  // an unmerged tail: the image holds the row sorted
      sorted.assign(row, row + n);
      std::sort(sorted.begin(), sorted.end(), [](const RowEdge& a, const RowEdge& b) { return a.item < b.item; });
      row = sorted.data();
    }
    out.Append(row, sizeof(RowEdge) * n);
    edges += n;
  }
  for (uint32_t i = 0; i < row_items; ++i) {
    const uint32_t d = m.item_rows_.size(i);
    out.Append(&d, 4);
  }
  for (uint32_t i = 0; i < row_items; ++i)
    if (const uint32_t n = m.item_rows_.size(i); n > 0) out.Append(m.item_rows_.data(i), sizeof(uint32_t) * n);
  if (!out.Finish()) return fail(out.error());

  RawHeader raw{};
  std::memcpy(raw.magic, kMagic, 8);
  raw.version = kVersion;
  raw.endian = kEndian;
  raw.sequence = h.sequence;
  raw.log_key = h.log_key;
  raw.log_hash = h.log_hash;
  raw.stored_events = h.stored_events;
  raw.users = m.users.size();
  raw.items = m.items.size();
  raw.row_users = row_users;
  raw.row_items = row_items;
  raw.users_arena = m.users.arena_.size();
  raw.items_arena = m.items.arena_.size();
  raw.edges = edges;
  raw.body_bytes = out.bytes();
  raw.body_hash = out.hash();
  raw.header_hash = Hash(&raw, offsetof(RawHeader, header_hash));
  if (::pwrite(fd, &raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) return fail(Errno("writing header"));
  if (::fsync(fd) != 0) return fail(Errno(absl::StrCat("fsync of ", tmp)));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(Errno(absl::StrCat("closing ", tmp)));
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const std::string why = Errno(absl::StrCat("renaming ", tmp));
    ::unlink(tmp.c_str());
    return absl::InternalError(why);
  }
  return SyncDir(dir);
}

absl::Status MirrorImage::Remove(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kFileName).string();
  ::unlink((std::filesystem::path(dir) / kTempName).c_str());
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(Errno(absl::StrCat("removing ", path)));
  }
  return SyncDir(dir);
}

MirrorImage::Reader::~Reader() {
  if (base_ != nullptr) ::munmap(const_cast<char*>(base_), size_);
}

absl::Status MirrorImage::Open(const std::string& dir, uint64_t max_sequence, uint32_t max_users, uint32_t max_items,
                               Reader* reader) {
  const std::string path = (std::filesystem::path(dir) / kFileName).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError("no mirror image");
    return absl::DataLossError(Errno(absl::StrCat("opening ", path)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < sizeof(RawHeader)) {
    ::close(fd);
    return absl::DataLossError("mirror image: shorter than its header");
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return absl::DataLossError(Errno("mapping the mirror image"));
  reader->base_ = static_cast<const char*>(map);
  reader->size_ = static_cast<size_t>(st.st_size);
  ::madvise(map, reader->size_, MADV_SEQUENTIAL);

  RawHeader raw;
  std::memcpy(&raw, reader->base_, sizeof raw);
  if (std::memcmp(raw.magic, kMagic, 8) != 0) return absl::DataLossError("mirror image: bad magic");
  if (raw.endian != kEndian) return absl::DataLossError("mirror image: foreign byte order");
  if (raw.version != kVersion) return absl::DataLossError(absl::StrCat("mirror image: version ", raw.version));
  if (raw.header_hash != Hash(&raw, offsetof(RawHeader, header_hash)))
    return absl::DataLossError("mirror image: header checksum mismatch");
  if (raw.body_bytes != reader->size_ - sizeof raw) return absl::DataLossError("mirror image: truncated");
  const char* body = reader->base_ + sizeof raw;
  if (Hash(body, raw.body_bytes) != raw.body_hash) return absl::DataLossError("mirror image: body checksum mismatch");
  if (raw.sequence > max_sequence)
    return absl::DataLossError(absl::StrCat("mirror image: covers sequence ", raw.sequence, ", the store ends at ",
                                            max_sequence));
  if (raw.users > max_users || raw.row_users > max_users || raw.items > max_items || raw.row_items > max_items)
    return absl::DataLossError("mirror image: more ids than the store has");
  const uint64_t expect = uint64_t{raw.users} * 5 + raw.users_arena + uint64_t{raw.items} * 5 + raw.items_arena +
                          uint64_t{raw.row_users} * 4 + uint64_t{raw.row_items} * 4 + raw.edges * 16;
  if (expect != raw.body_bytes) return absl::DataLossError("mirror image: sizes do not add up");

  // Structure: every name inside its arena, degrees summing to the edges, ids in range, user rows sorted.
  const char* p = body;
  for (int side = 0; side < 2; ++side) {
    const uint32_t n = side == 0 ? raw.users : raw.items;
    const uint64_t arena = side == 0 ? raw.users_arena : raw.items_arena;
    const char* offsets = p;
    const unsigned char* lens = reinterpret_cast<const unsigned char*>(p + uint64_t{n} * 4);
    for (uint32_t id = 0; id < n; ++id) {
      uint32_t off;
      std::memcpy(&off, offsets + uint64_t{id} * 4, 4);
      if (off != UINT32_MAX && uint64_t{off} + lens[id] + 1 > arena)
        return absl::DataLossError("mirror image: a name outside its arena");
    }
    p += uint64_t{n} * 5 + arena;
  }
  const char* user_degrees = p;
  p += uint64_t{raw.row_users} * 4;
  uint64_t sum = 0;
  for (uint32_t u = 0; u < raw.row_users; ++u) {
    uint32_t d;
    std::memcpy(&d, user_degrees + uint64_t{u} * 4, 4);
    sum += d;
    if (sum > raw.edges) return absl::DataLossError("mirror image: user degrees exceed the edges");
    uint32_t prev = 0;
    for (uint32_t k = 0; k < d; ++k) {
      RowEdge e;
      std::memcpy(&e, p, sizeof e);
      p += sizeof e;
      if (e.item >= raw.row_items || (k > 0 && e.item <= prev))
        return absl::DataLossError("mirror image: a user row out of order or range");
      prev = e.item;
    }
  }
  if (sum != raw.edges) return absl::DataLossError("mirror image: user degrees do not sum to the edges");
  const char* item_degrees = p;
  p += uint64_t{raw.row_items} * 4;
  sum = 0;
  for (uint32_t i = 0; i < raw.row_items; ++i) {
    uint32_t d;
    std::memcpy(&d, item_degrees + uint64_t{i} * 4, 4);
    sum += d;
  }
  if (sum != raw.edges) return absl::DataLossError("mirror image: item degrees do not sum to the edges");
  for (uint64_t k = 0; k < raw.edges; ++k) {
    uint32_t u;
    std::memcpy(&u, p + k * 4, 4);
    if (u >= raw.row_users) return absl::DataLossError("mirror image: an item row names an unknown user");
  }

  MirrorImageHeader& h = reader->h_;
  h.sequence = raw.sequence;
  h.log_key = raw.log_key;
  h.log_hash = raw.log_hash;
  h.stored_events = raw.stored_events;
  h.users = raw.users;
  h.items = raw.items;
  h.users_arena = raw.users_arena;
  h.items_arena = raw.items_arena;
  h.edges = raw.edges;
  h.body_bytes = raw.body_bytes;
  h.body_hash = raw.body_hash;
  reader->row_users_ = raw.row_users;
  reader->row_items_ = raw.row_items;
  return absl::OkStatus();
}

void MirrorImage::Reader::Load(GraphMirror* m, uint32_t users, uint32_t items) const {
  LoadInto(*this, m, users, items);
}

void MirrorImage::LoadInto(const Reader& r, GraphMirror* m, uint32_t users, uint32_t items) {
  const MirrorImageHeader& h = r.h_;
  const uint32_t row_users_ = r.row_users_, row_items_ = r.row_items_;
  const char* p = r.base_ + sizeof(RawHeader);
  const char* user_ids = p;
  p += uint64_t{h.users} * 5 + h.users_arena;
  const char* item_ids = p;
  p += uint64_t{h.items} * 5 + h.items_arena;
  auto load_ids = [](const char* at, uint32_t n, uint64_t arena, uint32_t expect, IdSpace* ids) {
    ids->offset_.resize(n);
    std::memcpy(ids->offset_.data(), at, uint64_t{n} * 4);
    ids->len_minus_1_.assign(reinterpret_cast<const uint8_t*>(at + uint64_t{n} * 4),
                             reinterpret_cast<const uint8_t*>(at + uint64_t{n} * 5));
    ids->arena_.assign(at + uint64_t{n} * 5, arena);
    uint64_t live = 0;
    for (uint32_t id = 0; id < n; ++id) live += ids->offset_[id] != IdSpace::kNoName;
    ids->by_name_.reserve(std::max<uint64_t>(live, expect));
    for (uint32_t id = 0; id < n; ++id)
      if (ids->offset_[id] != IdSpace::kNoName) ids->by_name_.insert(id);
    ids->live_ = live;
  };
  // The users' name index (the largest hash build) beside everything else.
  std::thread users_thread([&] { load_ids(user_ids, h.users, h.users_arena, users, &m->users); });
  load_ids(item_ids, h.items, h.items_arena, items, &m->items);

  m->ReserveNodes(row_users_, row_items_);
  const char* user_degrees = p;
  p += uint64_t{row_users_} * 4;
  for (uint32_t u = 0; u < row_users_; ++u) {
    uint32_t d;
    std::memcpy(&d, user_degrees + uint64_t{u} * 4, 4);
    if (d == 0) continue;
    std::memcpy(static_cast<void*>(m->user_rows_.Assign(u, d)), p, sizeof(RowEdge) * d);
    m->user_sorted_[u] = d;
    p += sizeof(RowEdge) * d;
  }
  const char* item_degrees = p;
  p += uint64_t{row_items_} * 4;
  for (uint32_t i = 0; i < row_items_; ++i) {
    uint32_t d;
    std::memcpy(&d, item_degrees + uint64_t{i} * 4, 4);
    if (d == 0) continue;
    std::memcpy(m->item_rows_.Assign(i, d), p, sizeof(uint32_t) * d);
    p += sizeof(uint32_t) * d;
  }
  m->live_edges_ = h.edges;
  users_thread.join();
}

}  // namespace gpt4rec::storage
