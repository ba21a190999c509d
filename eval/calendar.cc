// Calendar arithmetic in UTC without the C library's time zone machinery (timegm/strptime are locale- and
// TZ-dependent): the replay's segment boundaries must be the same on every machine.
#include <cstdio>
#include <cstring>
#include <string>

#include "eval/replay.h"

namespace gpt4rec::eval {
namespace {

constexpr int64_t kDay = 86400;

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

// Days since 1970-01-01 in the proleptic Gregorian calendar (era-based; valid for any year).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2);
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
  // Reject impossible dates such as 2015-02-30 by a round trip.
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t y2;
  unsigned m2, d2;
  CivilFromDays(days, &y2, &m2, &d2);
  if (y2 != year || m2 != month || d2 != day) return bad("no such date");
  return days * kDay + hour * 3600 + minute * 60 + second - offset_s;
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
  switch (unit) {
    case TimeUnit::kHour: return FloorDiv(time, 3600);
    case TimeUnit::kDay: return FloorDiv(time, kDay);
    case TimeUnit::kWeek: return FloorDiv(FloorDiv(time, kDay) + 3, 7);  // 1970-01-01 was a Thursday
    case TimeUnit::kMonth: {
      int64_t y;
      unsigned m, d;
      CivilFromDays(FloorDiv(time, kDay), &y, &m, &d);
      return y * 12 + (m - 1);
    }
    case TimeUnit::kEqualCount: return 0;
  }
  return 0;
}

int64_t PeriodStart(int64_t period, TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kHour: return period * 3600;
    case TimeUnit::kDay: return period * kDay;
    case TimeUnit::kWeek: return (period * 7 - 3) * kDay;
    case TimeUnit::kMonth:
      return DaysFromCivil(FloorDiv(period, 12), static_cast<unsigned>(period - FloorDiv(period, 12) * 12 + 1), 1) *
             kDay;
    case TimeUnit::kEqualCount: return 0;
  }
  return 0;
}

std::string PeriodLabel(int64_t period, TimeUnit unit) {
  int64_t start = PeriodStart(period, unit);
  int64_t y;
  unsigned m, d;
  CivilFromDays(FloorDiv(start, kDay), &y, &m, &d);
  char buf[64];
  switch (unit) {
    case TimeUnit::kHour:
      std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u %02lldh", static_cast<long long>(y), m, d,
                    static_cast<long long>((start - FloorDiv(start, kDay) * kDay) / 3600));
      break;
    case TimeUnit::kMonth:
      std::snprintf(buf, sizeof(buf), "%04lld-%02u", static_cast<long long>(y), m);
      break;
    case TimeUnit::kWeek:
      std::snprintf(buf, sizeof(buf), "wk%04lld-%02u-%02u", static_cast<long long>(y), m, d);
      break;
    default:
      std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  }
  return buf;
}

}  // namespace gpt4rec::eval
