// Streaming loaders for the four datasets' raw formats, RecBole atomic files and generic CSV.
// Every loader goes line by line through LineReader's reusable buffer and interns user/item tokens on the fly.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "eval/line_reader.h"
#include "eval/calendar.h"
#include "eval/loaders.h"
#include "util/header_columns.h"

namespace gpt4rec::eval {
namespace {

using internal::LineReader;
using internal::ParseDouble;
using internal::ParseInt64;
using internal::SplitFields;

constexpr size_t kMaxBadExamples = 5;

// Collects events, interning tokens, and turns line errors into either a failure or a count.
class Sink {
 public:
  Sink(const LoadOptions& options, RawStream* out) : options_(options), out_(out) {}

  void Add(std::string_view user, std::string_view item, int64_t time) {
    out_->events.push_back({Intern(user, &users_, &out_->user_names), Intern(item, &items_, &out_->item_names), time});
  }
  bool KeepBehavior(int64_t b) const {
    return options_.behaviors.empty() ||
           std::find(options_.behaviors.begin(), options_.behaviors.end(), static_cast<int>(b)) !=
               options_.behaviors.end();
  }
  // Returns a non-OK status when the line must abort the load.
  absl::Status BadLine(const LineReader& reader, const std::string& reason) {
    absl::Status error = reader.Error(reason);
    if (!options_.skip_bad_lines) return error;
    ++out_->bad_lines;
    if (out_->bad_examples.size() < kMaxBadExamples) out_->bad_examples.emplace_back(error.message());
    return absl::OkStatus();
  }

 private:
  static int32_t Intern(std::string_view token, absl::flat_hash_map<std::string, int32_t>* map,
                        std::vector<std::string>* names) {
    auto it = map->find(absl::string_view(token.data(), token.size()));  // Debian abseil: own string_view
    if (it != map->end()) return it->second;
    int32_t id = static_cast<int32_t>(names->size());
    map->emplace(std::string(token), id);
    names->emplace_back(token);
    return id;
  }

  const LoadOptions& options_;
  RawStream* out_;
  absl::flat_hash_map<std::string, int32_t> users_, items_;
};

// One parser per format: called for every non-empty line; returns "" when fine or a reason for a bad line.
class LineParser {
 public:
  virtual ~LineParser() = default;
  virtual void StartFile() {}
  virtual std::string Parse(std::string_view line, int64_t line_number, Sink* sink, RawStream* out) = 0;
};

std::string ParseTimeField(std::string_view text, const std::string& pattern, std::string* scratch, int64_t* time) {
  scratch->assign(text.data(), text.size());
  auto t = ParseTime(*scratch, pattern);
  if (!t.ok()) return std::string(t.status().message());
  *time = *t;
  return "";
}

// The two Taobao CSVs share a shape: a header, six comma-separated fields, integer user and item columns, a
// behaviour code and a time column; only names, positions, code range and time pattern differ.
struct TaobaoLayout {
  const char* header_prefix;
  const char* user_name;
  const char* item_name;
  int behavior_col;
  const char* behavior_name;
  int64_t behavior_min, behavior_max;
  const char* time_pattern;
};
// tianchi_mobile_recommend_train_user.csv: user_id,item_id,behavior_type,user_geohash,item_category,time
constexpr TaobaoLayout kTaobao2014 = {"user_id", "user_id", "item_id", 2, "behavior_type", 1, 4, "%Y-%m-%d %H"};
// ijcai2016_taobao.csv: use_ID,sel_ID,ite_ID,cat_ID,act_ID,time — the item is sel_ID, as in DEGC.
constexpr TaobaoLayout kTaobao2015 = {"use_ID", "use_ID", "sel_ID", 4, "act_ID", 0, 3, "%Y%m%d"};

class TaobaoParser : public LineParser {
 public:
  explicit TaobaoParser(const TaobaoLayout& layout) : l_(layout) {}
  std::string Parse(std::string_view line, int64_t line_number, Sink* sink, RawStream* out) override {
    if (line_number == 1 && line.rfind(l_.header_prefix, 0) == 0) return "";
    SplitFields(line, ',', &f_);
    if (f_.size() != 6) return "expected 6 comma-separated fields, got " + std::to_string(f_.size());
    int64_t u, i, b, t;
    if (!ParseInt64(f_[0], &u)) return std::string(l_.user_name) + " is not an integer";
    if (!ParseInt64(f_[1], &i)) return std::string(l_.item_name) + " is not an integer";
    if (!ParseInt64(f_[l_.behavior_col], &b) || b < l_.behavior_min || b > l_.behavior_max) {
      return std::string(l_.behavior_name) + " is not " + std::to_string(l_.behavior_min) + ".." +
             std::to_string(l_.behavior_max);
    }
    std::string err = ParseTimeField(f_[5], l_.time_pattern, &scratch_, &t);
    if (!err.empty()) return err;
    if (!sink->KeepBehavior(b)) {
      ++out->filtered;
      return "";
    }
    sink->Add(f_[0], f_[1], t);
    return "";
  }

 private:
  const TaobaoLayout& l_;
  std::vector<std::string_view> f_;
  std::string scratch_;
};

// Netflix Prize: "MovieID:" opens a movie's block, then "CustomerID,Rating,YYYY-MM-DD" lines.
class NetflixParser : public LineParser {
 public:
  explicit NetflixParser(double min_rating) : min_rating_(min_rating) {}
  void StartFile() override { movie_.clear(); }
  std::string Parse(std::string_view line, int64_t, Sink* sink, RawStream* out) override {
    if (line.back() == ':') {
      int64_t m;
      if (!ParseInt64(line.substr(0, line.size() - 1), &m) || m <= 0) return "movie line is not 'MovieID:'";
      movie_.assign(line.data(), line.size() - 1);
      return "";
    }
    if (movie_.empty()) return "rating line before any 'MovieID:' line";
    SplitFields(line, ',', &f_);
    if (f_.size() != 3) return "expected CustomerID,Rating,YYYY-MM-DD";
    int64_t c, r, t;
    if (!ParseInt64(f_[0], &c)) return "CustomerID is not an integer";
    if (!ParseInt64(f_[1], &r) || r < 1 || r > 5) return "Rating is not 1..5";
    std::string err = ParseTimeField(f_[2], "%Y-%m-%d", &scratch_, &t);
    if (!err.empty()) return err;
    if (r < min_rating_) {
      ++out->filtered;
      return "";
    }
    sink->Add(f_[0], movie_, t);
    return "";
  }

 private:
  double min_rating_;
  std::string movie_;
  std::vector<std::string_view> f_;
  std::string scratch_;
};

// dataset_WWW_Checkins_anonymized.txt: user, venue, "Tue Apr 03 18:00:06 +0000 2012", tz offset (minutes).
class FoursquareParser : public LineParser {
 public:
  std::string Parse(std::string_view line, int64_t, Sink* sink, RawStream*) override {
    SplitFields(line, ' ', &f_);
    if (f_.size() != 9) return "expected user, venue, 6-token UTC time and offset (9 tokens), got " +
                               std::to_string(f_.size());
    int64_t offset, t;
    if (!ParseInt64(f_[8], &offset)) return "timezone offset is not an integer";
    std::string text;
    for (int k = 2; k <= 7; ++k) {
      if (k > 2) text += ' ';
      text.append(f_[k].data(), f_[k].size());
    }
    std::string err = ParseTimeField(text, "%a %b %d %H:%M:%S %z %Y", &scratch_, &t);
    if (!err.empty()) return err;
    sink->Add(f_[0], f_[1], t);
    return "";
  }

 private:
  std::vector<std::string_view> f_;
  std::string scratch_;
};

// Header-driven delimited files: RecBole atomic .inter (tab, "name:type" headers) and generic CSV.
class HeaderParser : public LineParser {
 public:
  HeaderParser(const LoadOptions& options, bool recbole) : options_(options), recbole_(recbole) {}
  void StartFile() override { header_done_ = false; }
  std::string Parse(std::string_view line, int64_t, Sink* sink, RawStream* out) override {
    const char delim = recbole_ ? '\t' : options_.delimiter;
    SplitFields(line, delim, &f_);
    if (!header_done_) return ReadHeader();
    if (f_.size() != columns_) {
      return "expected " + std::to_string(columns_) + " fields, got " + std::to_string(f_.size());
    }
    int64_t t;
    if (options_.time_format == "unix" || options_.time_format == "unix_ms") {
      double v;
      if (!ParseDouble(f_[time_], &v) || !std::isfinite(v)) return "time '" + std::string(f_[time_]) + "' is not a number";
      t = static_cast<int64_t>(std::floor(options_.time_format == "unix_ms" ? v / 1000.0 : v));
    } else {
      std::string err = ParseTimeField(f_[time_], options_.time_format, &scratch_, &t);
      if (!err.empty()) return err;
    }
    if (f_[user_].empty()) return "empty user";
    if (f_[item_].empty()) return "empty item";
    if (rating_ >= 0) {
      double r;
      if (!ParseDouble(f_[rating_], &r)) return "rating is not a number";
      if (r < options_.min_rating) {
        ++out->filtered;
        return "";
      }
    }
    sink->Add(f_[user_], f_[item_], t);
    return "";
  }

 private:
  std::string ReadHeader() {
    header_done_ = true;
    columns_ = f_.size();
    user_ = util::FindColumn(f_, {options_.user_col});
    item_ = util::FindColumn(f_, {options_.item_col});
    time_ = util::FindColumn(f_, {options_.time_col});
    rating_ = util::FindColumn(f_, {options_.rating_col});
    if (user_ < 0) return "header has no user column '" + options_.user_col + "'";
    if (item_ < 0) return "header has no item column '" + options_.item_col + "'";
    if (time_ < 0) return "header has no time column '" + options_.time_col + "'";
    header_error_ = false;
    return "";
  }

 public:
  bool header_error_ = true;  // a header problem is never skippable

 private:
  const LoadOptions& options_;
  bool recbole_;
  bool header_done_ = false;
  size_t columns_ = 0;
  int user_ = -1, item_ = -1, time_ = -1, rating_ = -1;
  std::vector<std::string_view> f_;
  std::string scratch_;
};

absl::StatusOr<std::vector<std::string>> ExpandInputs(const LoadOptions& options) {
  std::vector<std::string> files;
  for (const std::string& in : options.inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      if (options.format != Format::kNetflix) {
        return absl::InvalidArgumentError("input: '" + in + "' is a directory; only --format=netflix reads one");
      }
      std::vector<std::string> found;
      for (const auto& entry : std::filesystem::directory_iterator(in, ec)) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && (name.rfind("mv_", 0) == 0 || name.rfind("combined_data", 0) == 0) &&
            name.size() > 4 && name.substr(name.size() - 4) == ".txt") {
          found.push_back(entry.path().string());
        }
      }
      if (ec) return absl::NotFoundError("input: cannot list '" + in + "': " + ec.message());
      if (found.empty()) return absl::NotFoundError("input: no mv_*.txt or combined_data*.txt in '" + in + "'");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  if (files.empty()) return absl::InvalidArgumentError("input: no input files given");
  return files;
}

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "taobao2014") return Format::kTaobao2014;
  if (name == "taobao2015") return Format::kTaobao2015;
  if (name == "netflix") return Format::kNetflix;
  if (name == "foursquare") return Format::kFoursquare;
  if (name == "recbole") return Format::kRecbole;
  if (name == "csv") return Format::kCsv;
  return absl::InvalidArgumentError("format: '" + name +
                                    "' is not one of taobao2014, taobao2015, netflix, foursquare, recbole, csv");
}

std::string FormatName(Format f) {
  switch (f) {
    case Format::kTaobao2014: return "taobao2014";
    case Format::kTaobao2015: return "taobao2015";
    case Format::kNetflix: return "netflix";
    case Format::kFoursquare: return "foursquare";
    case Format::kRecbole: return "recbole";
    case Format::kCsv: return "csv";
  }
  return "?";
}

absl::StatusOr<RawStream> LoadStream(const LoadOptions& options) {
  auto files = ExpandInputs(options);
  if (!files.ok()) return files.status();
  std::unique_ptr<LineParser> parser;
  HeaderParser* header_parser = nullptr;
  switch (options.format) {
    case Format::kTaobao2014: parser = std::make_unique<TaobaoParser>(kTaobao2014); break;
    case Format::kTaobao2015: parser = std::make_unique<TaobaoParser>(kTaobao2015); break;
    case Format::kNetflix: parser = std::make_unique<NetflixParser>(options.min_rating); break;
    case Format::kFoursquare: parser = std::make_unique<FoursquareParser>(); break;
    case Format::kRecbole:
    case Format::kCsv: {
      auto p = std::make_unique<HeaderParser>(options, options.format == Format::kRecbole);
      header_parser = p.get();
      parser = std::move(p);
      break;
    }
  }
  RawStream out;
  Sink sink(options, &out);
  LineReader reader;
  std::string_view line;
  for (const std::string& file : *files) {
    if (absl::Status s = reader.Open(file); !s.ok()) return s;
    parser->StartFile();
    if (header_parser != nullptr) header_parser->header_error_ = true;
    while (reader.Next(&line)) {
      ++out.lines_read;
      bool blank = std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
      if (blank) continue;
      std::string reason = parser->Parse(line, reader.line_number(), &sink, &out);
      if (reason.empty()) continue;
      if (header_parser != nullptr && header_parser->header_error_) return reader.Error(reason);
      if (absl::Status s = sink.BadLine(reader, reason); !s.ok()) return s;
    }
    if (header_parser != nullptr && header_parser->header_error_) {
      return absl::InvalidArgumentError(file + ": no header line");
    }
  }
  return out;
}

}  // namespace gpt4rec::eval
