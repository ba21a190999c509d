// eval/ — raw-format loaders: each dataset's files streamed line by line (they run to gigabytes) into
// interactions with users and items interned in order of first appearance.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::eval {

enum class Format { kTaobao2014, kTaobao2015, kNetflix, kFoursquare, kRecbole, kCsv };
absl::StatusOr<Format> ParseFormat(const std::string& name);  // "taobao2014", "taobao2015", "netflix", ...
std::string FormatName(Format f);

struct LoadOptions {
  Format format = Format::kRecbole;
  // Files to read in order. For netflix a directory is expanded to its mv_*.txt / combined_data_*.txt files
  // (sorted by name); other formats take files only.
  std::vector<std::string> inputs;
  bool skip_bad_lines = false;  // false: the first malformed line is an error naming file, line and reason
  // Implicit feedback: every interaction counts unless these say otherwise.
  double min_rating = -std::numeric_limits<double>::infinity();  // netflix, recbole (when it has a rating column)
  std::vector<int> behaviors;  // taobao2014 behavior_type / taobao2015 act_ID to keep; empty = all
  // recbole: column names (the part before ':' in the header); csv: header column names.
  std::string user_col = "user_id";
  std::string item_col = "item_id";
  std::string time_col = "timestamp";
  std::string rating_col = "rating";  // optional column; absent = no rating filter possible
  // csv only.
  char delimiter = ',';
  // "unix" (seconds, may be fractional), "unix_ms", or a strptime-like pattern using %Y %m %d %H %M %S %b %a %z
  // and literal characters (e.g. "%Y-%m-%d %H:%M:%S"); numeric fields are fixed width (4-digit year, 2-digit
  // others) so "%Y%m%d" is unambiguous. Times are read as UTC (a %z offset is applied).
  std::string time_format = "unix";
};

// Interactions with users and items interned to ids in order of first appearance in the input.
struct RawEvent {
  int32_t user = 0;
  int32_t item = 0;
  int64_t time = 0;  // seconds since the Unix epoch, UTC
};

struct RawStream {
  std::vector<RawEvent> events;
  std::vector<std::string> user_names;  // raw token of each interned user id
  std::vector<std::string> item_names;
  int64_t lines_read = 0;
  int64_t bad_lines = 0;                   // only with skip_bad_lines
  std::vector<std::string> bad_examples;   // the first few "file:line: reason" messages
  int64_t filtered = 0;                    // dropped by min_rating / behaviors
};

absl::StatusOr<RawStream> LoadStream(const LoadOptions& options);

}  // namespace gpt4rec::eval
