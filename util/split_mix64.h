// util/ — SplitMix64 (Steele, Lea & Flood 2014; the seeding generator of xoshiro): one 64-bit step of a
// counter-based generator, used wherever a seed or an id is hashed to reproducible pseudo-random bits (held-out
// splits, synthetic token spellings). Header-only; the constants are the published ones, so results do not
// depend on the standard library's generators.
#pragma once

#include <cstdint>

namespace gpt4rec::util {

// The Weyl-sequence increment: 2^64 / golden ratio.
inline constexpr uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;

// The output of the generator whose state before the step is `x`: finalize(x + gamma).
constexpr uint64_t SplitMix64(uint64_t x) {
  x += kSplitMix64Gamma;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace gpt4rec::util
