#include "storage/segment_clock.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace gpt4rec::storage {

namespace {
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }
}  // namespace

int64_t TimeBucket(SegmentUnit unit, int64_t t) {
  // UTC hours and days are fixed lengths of Unix time (it has no leap seconds): the same numbers as the civil
  // computation below (segments_test compares them), without cctz on the append path (~3 % of the writer).
  if (unit == SegmentUnit::kHour) return FloorDiv(t, 3600);
  if (unit == SegmentUnit::kDay) return FloorDiv(t, 86400);
  const absl::CivilSecond when = absl::ToCivilSecond(absl::FromUnixSeconds(t), absl::UTCTimeZone());
  switch (unit) {
    case SegmentUnit::kHour:
      return absl::CivilHour(when) - absl::CivilHour(1970, 1, 1, 0);
    case SegmentUnit::kDay:
      return absl::CivilDay(when) - absl::CivilDay(1970, 1, 1);
    case SegmentUnit::kMonth:
      return static_cast<int64_t>(when.year()) * 12 + (when.month() - 1);
    default:
      return 0;
  }
}

absl::StatusOr<SegmentPolicy> ParseSegmentPolicy(const std::string& text) {
  SegmentPolicy p;
  if (text == "hour") {
    p.unit = SegmentUnit::kHour;
  } else if (text == "day") {
    p.unit = SegmentUnit::kDay;
  } else if (text == "month") {
    p.unit = SegmentUnit::kMonth;
  } else if (text == "manual") {
    p.unit = SegmentUnit::kManual;
  } else if (text.rfind("events:", 0) == 0) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(text.substr(7), &n) || n == 0)
      return absl::InvalidArgumentError(
          absl::StrCat("segment policy '", text, "': events:N needs a positive integer N"));
    p.unit = SegmentUnit::kEvents;
    p.events_per_segment = n;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("segment policy '", text, "': expected hour, day, month, manual or events:N"));
  }
  return p;
}

}  // namespace gpt4rec::storage
