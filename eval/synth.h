// eval/ — synthetic streams in each dataset's raw format (numbers and their sources: eval/PROFILES.md).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/calendar.h"
#include "eval/loaders.h"

namespace gpt4rec::eval {

struct SynthProfile {
  std::string name;    // "taobao2014", "taobao2015", "netflix", "foursquare"
  Format format;
  TimeUnit unit;
  int segments;
  int64_t first_period_start;  // UTC seconds of segment 0's period start
  // Full-scale shape after the protocol's preprocessing (scale 1.0).
  int64_t users, items, interactions;
  double base_user_fraction;  // users present in segment 0; the rest arrive evenly later
  double base_item_fraction;
  double popularity_zipf;     // Zipf exponent of item appeal within a community
  int communities;            // planted communities
  double drift_per_segment;   // probability a user's interest moves to the next community each segment
  double item_lifetime;       // in segments: an item's appeal decays as exp(-age / lifetime)
};
absl::StatusOr<SynthProfile> GetSynthProfile(const std::string& name);

struct SynthOptions {
  std::string profile = "taobao2014";
  double scale = 0.01;
  uint64_t seed = 7;
  std::string out;  // file path (netflix: one combined_data-style file)
};
struct SynthStats {
  int64_t users = 0, items = 0, lines = 0;
  int segments = 0;
};
absl::StatusOr<SynthStats> WriteSynthetic(const SynthOptions& options);

}  // namespace gpt4rec::eval
