#include "model/checkpoint_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "util/atomic_file.h"
#include "util/fnv1a.h"

namespace gpt4rec::model {
namespace {

constexpr char kMagic[8] = {'G', 'P', 'T', '4', 'R', 'C', 'K', 'P'};

// FNV-1a 64 from the published basis with its last digit missing: every checkpoint of format version 1 was
// written with it, so it stays (a new basis would make each of them fail its checksum).
constexpr uint64_t kChecksumBasis = 1469598103934665603ULL;

uint64_t Fnv1a(const std::string& s) {
  util::Fnv1a64Hasher h(kChecksumBasis);
  h.Mix(s);
  return h.value();
}

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void PutString(std::string* out, const std::string& s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

size_t DtypeSize(uint8_t dtype) { return dtype == 0 ? 4 : dtype == 1 ? 8 : dtype == 2 ? 4 : 0; }

class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    if (pos_ + sizeof(T) > data_.size()) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetBytes(size_t n, std::string* s) {
    if (pos_ + n > data_.size()) return false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n = 0;
    return Get(&n) && GetBytes(n, s);
  }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const CheckpointContents& c) {
  std::string out;
  out.append(kMagic, sizeof(kMagic));
  Put<uint32_t>(&out, kCheckpointVersion);
  PutString(&out, c.config_text);
  Put<int64_t>(&out, static_cast<int64_t>(c.counters.size()));
  for (const auto& [name, value] : c.counters) {
    PutString(&out, name);
    Put<int64_t>(&out, value);
  }
  Put<uint32_t>(&out, static_cast<uint32_t>(c.arrays.size()));
  for (const auto& [name, blob] : c.arrays) {
    PutString(&out, name);
    Put<uint8_t>(&out, blob.dtype);
    Put<uint32_t>(&out, static_cast<uint32_t>(blob.shape.size()));
    for (int64_t d : blob.shape) Put<int64_t>(&out, d);
    out.append(blob.bytes);
  }
  Put<uint64_t>(&out, Fnv1a(out));

  if (absl::Status st = util::WriteFileAtomically(path, out); !st.ok())
    return absl::InternalError(absl::StrCat("checkpoint: ", st.message()));
  return absl::OkStatus();
}

absl::StatusOr<CheckpointContents> ReadCheckpointFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint: cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  auto corrupt = [&](const char* what) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", what));
  };
  if (data.size() < sizeof(kMagic) + 4 + 8 || std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0)
    return corrupt("not a gpt4rec checkpoint (bad magic or too short)");
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, data.data() + data.size() - 8, 8);
  data.resize(data.size() - 8);
  if (Fnv1a(data) != stored_sum) return corrupt("checksum mismatch (truncated or corrupted)");

  Reader r(data);
  std::string magic;
  r.GetBytes(sizeof(kMagic), &magic);
  uint32_t version = 0;
  if (!r.Get(&version)) return corrupt("truncated header");
  if (version != kCheckpointVersion)
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, ": format version ", version, ", this build reads ", kCheckpointVersion));
  CheckpointContents c;
  if (!r.GetString(&c.config_text)) return corrupt("truncated config");
  int64_t n_counters = 0;
  if (!r.Get(&n_counters) || n_counters < 0) return corrupt("truncated counters");
  for (int64_t k = 0; k < n_counters; ++k) {
    std::string name;
    int64_t v = 0;
    if (!r.GetString(&name) || !r.Get(&v)) return corrupt("truncated counter");
    c.counters[name] = v;
  }
  uint32_t n_arrays = 0;
  if (!r.Get(&n_arrays)) return corrupt("truncated array count");
  for (uint32_t a = 0; a < n_arrays; ++a) {
    std::string name;
    ArrayBlob blob;
    uint32_t ndim = 0;
    if (!r.GetString(&name) || !r.Get(&blob.dtype) || !r.Get(&ndim) || ndim > 8) return corrupt("bad array header");
    int64_t numel = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      int64_t dim = 0;
      if (!r.Get(&dim) || dim < 0) return corrupt("bad array shape");
      blob.shape.push_back(dim);
      numel *= dim;
    }
    const size_t es = DtypeSize(blob.dtype);
    if (es == 0) return corrupt("unknown dtype");
    if (!r.GetBytes(static_cast<size_t>(numel) * es, &blob.bytes)) return corrupt("truncated array data");
    c.arrays[name] = std::move(blob);
  }
  return c;
}

}  // namespace gpt4rec::model
