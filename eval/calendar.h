// eval/ — calendar arithmetic on UTC seconds: time-pattern parsing for the loaders and the calendar periods
// (hour, day, ISO week, month) that cut a stream into segments. Abseil's civil time does the arithmetic.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"

namespace gpt4rec::eval {

// Parses `text` with a LoadOptions::time_format pattern (not "unix"); seconds since the epoch, UTC.
absl::StatusOr<int64_t> ParseTime(const std::string& text, const std::string& pattern);
// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

enum class TimeUnit { kHour, kDay, kWeek, kMonth, kEqualCount };
absl::StatusOr<TimeUnit> ParseTimeUnit(const std::string& name);  // "hour", "day", "week", "month", "count"
std::string TimeUnitName(TimeUnit u);

// Calendar period (UTC) holding `time`: hours / days / ISO weeks (Monday start) / months since the epoch.
int64_t PeriodOf(int64_t time, TimeUnit unit);
int64_t PeriodStart(int64_t period, TimeUnit unit);  // first second of the period
std::string PeriodLabel(int64_t period, TimeUnit unit);

// The UTC civil second of a unix time (year, month, ..., and absl::GetWeekday for the weekday).
absl::CivilSecond ToCivil(int64_t unix_seconds);

}  // namespace gpt4rec::eval
