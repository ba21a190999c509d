// util/ — FNV-1a 64 (Fowler, Noll, Vo), with the published offset basis and prime, so a digest or checksum
// computed here is the FNV-1a 64 any other implementation computes. Header-only; incremental (Mix) or one shot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gpt4rec::util {

inline constexpr uint64_t kFnv1a64OffsetBasis = 14695981039346656037ULL;  // 0xcbf29ce484222325
inline constexpr uint64_t kFnv1a64Prime = 1099511628211ULL;               // 2^40 + 2^8 + 0xb3

class Fnv1a64Hasher {
 public:
  // Another start only for formats that were written with one (the checkpoint's checksum, model/checkpoint_io.cc).
  explicit Fnv1a64Hasher(uint64_t basis = kFnv1a64OffsetBasis) : h_(basis) {}
  void Mix(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * kFnv1a64Prime;
  }
  void Mix(std::string_view s) { Mix(s.data(), s.size()); }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_;
};

inline uint64_t Fnv1a64Of(std::string_view data) {
  Fnv1a64Hasher h;
  h.Mix(data);
  return h.value();
}

}  // namespace gpt4rec::util
