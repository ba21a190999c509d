#include "storage/segment_clock.h"


#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gpt4rec::storage {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Year and month of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
void CivilFromDays(int64_t z, int64_t* year, unsigned* month) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int64_t>(yoe) + era * 400 + (*month <= 2);
}

}  // namespace

int64_t TimeBucket(SegmentUnit unit, int64_t t) {
  switch (unit) {
    case SegmentUnit::kHour:
      return FloorDiv(t, 3600);
    case SegmentUnit::kDay:
      return FloorDiv(t, 86400);
    case SegmentUnit::kMonth: {
      int64_t year;
      unsigned month;
      CivilFromDays(FloorDiv(t, 86400), &year, &month);
      return year * 12 + (month - 1);
    }
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
