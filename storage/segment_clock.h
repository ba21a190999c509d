// Private to storage/: maps event time to calendar buckets (UTC) so segments close on hour/day/month edges.
#pragma once

#include <cstdint>

#include "storage/graph_store.h"

namespace gpt4rec::storage {

// The calendar bucket of a unix time under a time-based unit: hours or days since the epoch, or
// year * 12 + (month - 1) for kMonth (proleptic Gregorian, UTC). Meaningless for kEvents / kManual.
int64_t TimeBucket(SegmentUnit unit, int64_t unix_seconds);

inline bool IsTimeBased(SegmentUnit unit) {
  return unit == SegmentUnit::kHour || unit == SegmentUnit::kDay || unit == SegmentUnit::kMonth;
}

}  // namespace gpt4rec::storage
