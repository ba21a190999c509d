// eval/ — the protocol's preprocessing (../shared/design/GPT4REC.md §5 steps 1–5): range filter,
// de-duplication, k-core, calendar segments, dense id remapping and the seeded per-segment split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/calendar.h"
#include "eval/loaders.h"
#include "model/recommender_model.h"

namespace gpt4rec::eval {

struct PreprocessOptions {
  int64_t from_time = std::numeric_limits<int64_t>::min();  // keep events with from_time <= time < to_time
  int64_t to_time = std::numeric_limits<int64_t>::max();
  int user_core = 10;  // iterative k-core: every kept user has >= user_core interactions, item >= item_core
  int item_core = 10;
  TimeUnit unit = TimeUnit::kMonth;
  int equal_count_segments = 10;  // for TimeUnit::kEqualCount
  int max_segments = 0;           // > 0: keep only the first max_segments segments
  double train_fraction = 0.8;
  double valid_fraction = 0.1;    // test gets the rest
  uint64_t seed = 42;
};

struct Segment {
  std::string label;     // e.g. "1997-09", "2014-11-18"
  int64_t start_time = 0;  // first event's time
  int64_t end_time = 0;    // last event's time
  std::vector<model::Interaction> train, valid, test;  // dense ids
  int32_t num_users = 0;   // users known after this segment (ids 0..num_users-1), every split counted
  int32_t num_items = 0;
  int32_t new_users = 0;   // first seen in this segment
  int32_t new_items = 0;
};

struct SegmentedStream {
  std::vector<Segment> segments;
  // Dense id -> interned raw id (RawStream::user_names index).
  std::vector<int32_t> user_raw, item_raw;
  int64_t events_in = 0, events_after_range = 0, events_after_dedup = 0, events_after_kcore = 0;
  int kcore_rounds = 0;
};

// De-duplicates (user, item) keeping the last occurrence (latest time; file order breaks ties) and returns the
// survivors sorted by time (stable).
std::vector<RawEvent> DeduplicateKeepLast(std::vector<RawEvent> events);
// Iterative k-core until no user has < user_core and no item < item_core interactions. Keeps order.
std::vector<RawEvent> KCore(std::vector<RawEvent> events, int user_core, int item_core, int* rounds = nullptr);
// Index ranges [begin, end) of segments in time-sorted events: one per non-empty calendar period, or
// `equal_count` chunks of (nearly) equal size.
std::vector<std::pair<size_t, size_t>> CutSegments(const std::vector<RawEvent>& sorted_events, TimeUnit unit,
                                                   int equal_count);
// Seeded random split of n items into train/valid/test index lists (a permutation of 0..n-1).
void SplitIndices(size_t n, double train_fraction, double valid_fraction, uint64_t seed, std::vector<size_t>* train,
                  std::vector<size_t>* valid, std::vector<size_t>* test);

// The whole pipeline: range filter, de-duplication, k-core, segments, dense remapping in order of first
// appearance (so users/items new in segment t get ids above those of earlier segments), per-segment split.
absl::StatusOr<SegmentedStream> Preprocess(const RawStream& raw, const PreprocessOptions& options);

// Per-format defaults from the design page's table (k-core, unit, time range).
struct DatasetDefaults {
  int user_core = 10, item_core = 10;
  TimeUnit unit = TimeUnit::kMonth;
  int64_t from_time = std::numeric_limits<int64_t>::min();
  int64_t to_time = std::numeric_limits<int64_t>::max();
};
DatasetDefaults DefaultsFor(Format format);
// PreprocessOptions carrying a dataset's defaults (k-core, unit, time range); everything else as declared.
PreprocessOptions PreprocessDefaultsFor(Format format);

// Accumulated TRAINING graph of segments 0..t (user-major CSR, each row sorted), sized to segment t's id space,
// with each edge's age (t minus the segment it came from).
model::Graph AccumulatedTrainingGraph(const SegmentedStream& stream, size_t t);

}  // namespace gpt4rec::eval
