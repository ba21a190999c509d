#include "server/cli_input.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "util/header_columns.h"

namespace gpt4rec::server {

absl::StatusOr<std::unique_ptr<EventFileReader>> EventFileReader::Open(const std::string& path) {
  std::unique_ptr<EventFileReader> r(new EventFileReader());
  r->path_ = path;
  r->in_.open(path);
  if (!r->in_) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::error_code ec;
  r->file_bytes_ = std::filesystem::file_size(path, ec);
  std::string header;
  if (!std::getline(r->in_, header)) return absl::InvalidArgumentError(absl::StrCat(path, ":1: empty file"));
  r->line_ = 1;
  r->bytes_read_ = header.size() + 1;
  if (!header.empty() && header.back() == '\r') header.pop_back();
  r->sep_ = header.find('\t') != std::string::npos ? '\t' : ',';
  // Column names match case-insensitively, surrounding blanks ignored.
  std::vector<std::string> cols = absl::StrSplit(absl::AsciiStrToLower(header), r->sep_);
  for (std::string& c : cols) c = std::string(absl::StripAsciiWhitespace(c));
  r->user_col_ = util::FindColumn(cols, {"user", "user_id"});
  r->item_col_ = util::FindColumn(cols, {"item", "item_id"});
  r->time_col_ = util::FindColumn(cols, {"timestamp", "time", "ts"});
  r->type_col_ = util::FindColumn(cols, {"type", "event_type"});
  r->weight_col_ = util::FindColumn(cols, {"weight"});
  if (r->user_col_ < 0 || r->item_col_ < 0 || r->time_col_ < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":1: header needs user, item and timestamp columns (CSV user,item,timestamp[,type,weight] or a "
              "RecBole .inter header); got: ", header));
  }
  return r;
}

absl::StatusOr<bool> EventFileReader::Next(InputEvent* event) {
  std::string line;
  for (;;) {
    if (!std::getline(in_, line)) return false;
    ++line_;
    bytes_read_ += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!absl::StripAsciiWhitespace(line).empty()) break;  // blank lines are skipped
  }
  std::vector<absl::string_view> f = absl::StrSplit(line, sep_);
  auto where = [&](const char* field) { return absl::StrCat(path_, ":", line_, ": ", field, ": "); };
  const int needed = std::max({user_col_, item_col_, time_col_, type_col_, weight_col_});
  if (static_cast<int>(f.size()) <= needed) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ":", line_, ": ", f.size(), " columns, header has more"));
  }
  event->line = line_;
  event->user_id = std::string(absl::StripAsciiWhitespace(f[user_col_]));
  event->item_id = std::string(absl::StripAsciiWhitespace(f[item_col_]));
  if (event->user_id.empty()) return absl::InvalidArgumentError(where("user") + "empty");
  if (event->item_id.empty()) return absl::InvalidArgumentError(where("item") + "empty");
  const absl::string_view ts = absl::StripAsciiWhitespace(f[time_col_]);
  double t = 0;
  // RecBole stores timestamps as floats ("881250949.0"); integers are the common case.
  if (!absl::SimpleAtoi(ts, &event->timestamp)) {
    if (!absl::SimpleAtod(ts, &t) || !std::isfinite(t)) return absl::InvalidArgumentError(where("timestamp") + "not a number");
    event->timestamp = static_cast<int64_t>(t);
  }
  if (event->timestamp < 0) return absl::InvalidArgumentError(where("timestamp") + "negative");
  event->event_type = 0;
  if (type_col_ >= 0 && !absl::StripAsciiWhitespace(f[type_col_]).empty() &&
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(f[type_col_]), &event->event_type)) {
    return absl::InvalidArgumentError(where("type") + "not an integer");
  }
  event->weight = 0;
  if (weight_col_ >= 0 && !absl::StripAsciiWhitespace(f[weight_col_]).empty()) {
    if (!absl::SimpleAtof(absl::StripAsciiWhitespace(f[weight_col_]), &event->weight) || !std::isfinite(event->weight)) {
      return absl::InvalidArgumentError(where("weight") + "not a finite number");
    }
  }
  return true;
}

}  // namespace gpt4rec::server
