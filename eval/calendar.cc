// Calendar arithmetic in UTC on Abseil's civil time (the C library's timegm/strptime are locale- and
// TZ-dependent; the replay's segment boundaries must be the same on every machine).
//
// ParseTime keeps its own pattern reader rather than absl::ParseTime: the loaders' patterns read numeric fields
// at fixed width ("%Y%m%d" for 20141118), where absl's %Y takes as many digits as there are; one pattern space
// matches any run of blanks; month and weekday names match case-insensitively. The dates themselves are
// checked and converted by absl::CivilSecond.
#include <strings.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "eval/calendar.h"

namespace gpt4rec::eval {
namespace {

constexpr int64_t kDay = 86400;
const absl::CivilDay kEpochDay(1970, 1, 1);
const absl::CivilHour kEpochHour(1970, 1, 1, 0);

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool ReadDigits(const std::string& s, size_t* pos, int min_digits, int max_digits, int64_t* out) {
  int64_t v = 0;
  int n = 0;
  while (*pos < s.size() && n < max_digits && s[*pos] >= '0' && s[*pos] <= '9') {
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
    ++n;
  }
  if (n < min_digits) return false;
  *out = v;
  return true;
}

int MatchName(const std::string& s, size_t* pos, const char* const* names, int count) {
  for (int i = 0; i < count; ++i) {
    size_t len = std::strlen(names[i]);
    if (s.size() - *pos >= len && strncasecmp(s.c_str() + *pos, names[i], len) == 0) {
      *pos += len;
      return i;
    }
  }
  return -1;
}

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* const kWeekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) { return absl::CivilDay(y, m, d) - kEpochDay; }

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  const absl::CivilDay civil = kEpochDay + z;
  *year = civil.year();
  *month = static_cast<unsigned>(civil.month());
  *day = static_cast<unsigned>(civil.day());
}

absl::StatusOr<int64_t> ParseTime(const std::string& text, const std::string& pattern) {
  int64_t year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, offset_s = 0;
  size_t pos = 0;
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError("time '" + text + "' does not match '" + pattern + "': " + what);
  };
  for (size_t p = 0; p < pattern.size(); ++p) {
    char c = pattern[p];
    if (c != '%') {
      if (c == ' ') {  // one pattern space matches any run of blanks
        if (pos >= text.size() || (text[pos] != ' ' && text[pos] != '\t')) return bad("expected a space");
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
        continue;
      }
      if (pos >= text.size() || text[pos] != c) return bad(std::string("expected '") + c + "'");
      ++pos;
      continue;
    }
    if (++p >= pattern.size()) return bad("pattern ends in '%'");
    switch (pattern[p]) {
      case 'Y':
        if (!ReadDigits(text, &pos, 4, 4, &year)) return bad("year");
        break;
      case 'm':
        if (!ReadDigits(text, &pos, 2, 2, &month) || month < 1 || month > 12) return bad("month");
        break;
      case 'd':
        if (!ReadDigits(text, &pos, 2, 2, &day) || day < 1 || day > 31) return bad("day");
        break;
      case 'H':
        if (!ReadDigits(text, &pos, 2, 2, &hour) || hour > 23) return bad("hour");
        break;
      case 'M':
        if (!ReadDigits(text, &pos, 2, 2, &minute) || minute > 59) return bad("minute");
        break;
      case 'S':
        if (!ReadDigits(text, &pos, 2, 2, &second) || second > 60) return bad("second");
        break;
      case 'b': {
        int m = MatchName(text, &pos, kMonths, 12);
        if (m < 0) return bad("month name");
        month = m + 1;
        break;
      }
      case 'a':
        if (MatchName(text, &pos, kWeekdays, 7) < 0) return bad("weekday name");
        break;
      case 'z': {
        if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return bad("zone offset");
        int sign = text[pos] == '-' ? -1 : 1;
        ++pos;
        int64_t hhmm = 0;
        if (!ReadDigits(text, &pos, 4, 4, &hhmm)) return bad("zone offset");
        offset_s = sign * ((hhmm / 100) * 3600 + (hhmm % 100) * 60);
        break;
      }
      case '%':
        if (pos >= text.size() || text[pos] != '%') return bad("expected '%'");
        ++pos;
        break;
      default:
        return bad(std::string("unsupported directive %") + pattern[p]);
    }
  }
  if (pos != text.size()) return bad("trailing characters");
  // Civil time normalises impossible dates (2015-02-30 becomes 2015-03-02): a changed field means no such date.
  const absl::CivilDay date(year, month, day);
  if (date.year() != year || date.month() != month || date.day() != day) return bad("no such date");
  return (date - kEpochDay) * kDay + hour * 3600 + minute * 60 + second - offset_s;
}

absl::StatusOr<TimeUnit> ParseTimeUnit(const std::string& name) {
  if (name == "hour") return TimeUnit::kHour;
  if (name == "day") return TimeUnit::kDay;
  if (name == "week") return TimeUnit::kWeek;
  if (name == "month") return TimeUnit::kMonth;
  if (name == "count") return TimeUnit::kEqualCount;
  return absl::InvalidArgumentError("unit: '" + name + "' is not one of hour, day, week, month, count");
}

std::string TimeUnitName(TimeUnit u) {
  switch (u) {
    case TimeUnit::kHour: return "hour";
    case TimeUnit::kDay: return "day";
    case TimeUnit::kWeek: return "week";
    case TimeUnit::kMonth: return "month";
    case TimeUnit::kEqualCount: return "count";
  }
  return "?";
}

int64_t PeriodOf(int64_t time, TimeUnit unit) {
  const absl::CivilSecond when = ToCivil(time);
  switch (unit) {
    case TimeUnit::kHour: return absl::CivilHour(when) - kEpochHour;
    case TimeUnit::kDay: return absl::CivilDay(when) - kEpochDay;
    // ISO weeks start on Monday; 1970-01-01 was a Thursday, so week 0 started on 1969-12-29.
    case TimeUnit::kWeek: return FloorDiv(absl::CivilDay(when) - kEpochDay + 3, 7);
    case TimeUnit::kMonth: return static_cast<int64_t>(when.year()) * 12 + (when.month() - 1);
    case TimeUnit::kEqualCount: return 0;
  }
  return 0;
}

int64_t PeriodStart(int64_t period, TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kHour: return period * 3600;
    case TimeUnit::kDay: return period * kDay;
    case TimeUnit::kWeek: return (period * 7 - 3) * kDay;
    // period = year * 12 + (month - 1): months since January of year 0.
    case TimeUnit::kMonth: return (absl::CivilDay(absl::CivilMonth(0, 1) + period) - kEpochDay) * kDay;
    case TimeUnit::kEqualCount: return 0;
  }
  return 0;
}

std::string PeriodLabel(int64_t period, TimeUnit unit) {
  const absl::CivilSecond start = ToCivil(PeriodStart(period, unit));
  const long long y = start.year();
  const int m = start.month(), d = start.day();
  char buf[64];
  switch (unit) {
    case TimeUnit::kHour:
      std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02d %02dh", y, m, d, start.hour());
      break;
    case TimeUnit::kMonth:
      std::snprintf(buf, sizeof(buf), "%04lld-%02d", y, m);
      break;
    case TimeUnit::kWeek:
      std::snprintf(buf, sizeof(buf), "wk%04lld-%02d-%02d", y, m, d);
      break;
    default:
      std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02d", y, m, d);
  }
  return buf;
}

absl::CivilSecond ToCivil(int64_t unix_seconds) {
  return absl::ToCivilSecond(absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone());
}

}  // namespace gpt4rec::eval
