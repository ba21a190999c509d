// eval/ — offline replay evaluation of the streaming protocol (../shared/design/GPT4REC.md §4–6).
// This header is the module's whole contract: raw-format loaders, preprocessing (de-duplication, k-core, calendar
// segments, seeded split, dense id remapping), ranking metrics, the synthetic stream generator, the replay driver
// and its reports. Torch-free; the model is reached only through model/recommender_model.h.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recommender_model.h"

namespace gpt4rec::eval {

// ---------------------------------------------------------------------------------------------------------------
// Loading: every loader streams its files line by line through one reusable buffer (files run to gigabytes).
// ---------------------------------------------------------------------------------------------------------------

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

// Parses `text` with a LoadOptions::time_format pattern (not "unix"); seconds since the epoch, UTC.
absl::StatusOr<int64_t> ParseTime(const std::string& text, const std::string& pattern);
// Days since 1970-01-01 of a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

// ---------------------------------------------------------------------------------------------------------------
// Preprocessing (§5 steps 1–5).
// ---------------------------------------------------------------------------------------------------------------

enum class TimeUnit { kHour, kDay, kWeek, kMonth, kEqualCount };
absl::StatusOr<TimeUnit> ParseTimeUnit(const std::string& name);  // "hour", "day", "week", "month", "count"
std::string TimeUnitName(TimeUnit u);

// Calendar period (UTC) holding `time`: hours / days / ISO weeks (Monday start) / months since the epoch.
int64_t PeriodOf(int64_t time, TimeUnit unit);
int64_t PeriodStart(int64_t period, TimeUnit unit);  // first second of the period
std::string PeriodLabel(int64_t period, TimeUnit unit);

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

// ---------------------------------------------------------------------------------------------------------------
// Metrics (§6): full ranking over all known items, the user's accumulated training items excluded.
// ---------------------------------------------------------------------------------------------------------------

struct RankingMetrics {
  double recall20 = 0;
  double ndcg20 = 0;       // standard: IDCG over min(|test|, 20) ideal hits
  double ndcg20_degc = 0;  // DEGC: ideal = the top-100 list's hits re-sorted to the front; no hit -> 0
  int64_t users = 0;       // users with a non-empty test list
};

class RankingAccumulator {
 public:
  // scores: num_items values for one user; excluded: that user's training items, sorted ascending;
  // test: the user's test items (must be non-empty). Ties rank the smaller item id first.
  void AddUser(const float* scores, int32_t num_items, const int32_t* excluded_begin, const int32_t* excluded_end,
               const std::vector<int32_t>& test);
  RankingMetrics Result() const;

 private:
  double recall_ = 0, ndcg_ = 0, ndcg_degc_ = 0;
  int64_t users_ = 0;
  std::vector<std::pair<float, int32_t>> buffer_;
};

// Scores every user with test edges in `test` through `score` (batches of users) against graph's items.
using ScoreFn = std::function<absl::Status(const std::vector<int32_t>& users, std::vector<float>* out)>;
absl::StatusOr<RankingMetrics> EvaluateTest(const model::Graph& train_graph,
                                            const std::vector<model::Interaction>& test, const ScoreFn& score,
                                            int batch_users = 512);

// ---------------------------------------------------------------------------------------------------------------
// Replay (§5 steps 6–7): every strategy over every segment, side by side.
// ---------------------------------------------------------------------------------------------------------------

struct ReplayOptions {
  std::vector<model::Strategy> strategies;
  model::ModelConfig model;  // its `strategy` is replaced by each entry of `strategies`
  int eval_batch_users = 512;
  std::ostream* progress = nullptr;  // strategy, segment, epoch, ETA lines (stderr in the CLI); may be null
};

struct StrategySegment {
  RankingMetrics test;
  double train_seconds = 0;
  double eval_seconds = 0;
  int epochs = 0;
  int best_epoch = 0;
  double best_valid_recall20 = 0;
  std::string mode;
};

struct StrategySummary {
  std::string name;
  // Averages over incremental segments t >= 1 (over all segments when there is only one).
  double recall20_avg = 0, ndcg20_avg = 0, ndcg20_degc_avg = 0;
  double train_s_total = 0;
};

struct ReplayResult {
  std::vector<std::string> strategies;
  std::vector<std::vector<StrategySegment>> per_strategy;  // [strategy][segment]
  std::vector<StrategySummary> summary;                     // [strategy]
};

absl::StatusOr<ReplayResult> RunReplay(const SegmentedStream& stream, const ReplayOptions& options);
StrategySummary Summarise(const std::string& name, const std::vector<StrategySegment>& segments);

// Reports. `config_json` is a JSON object text copied into results.json's "config".
struct ReportInfo {
  std::string dataset;
  std::string config_json = "{}";
};
absl::Status WriteResultsJson(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                              const ReplayResult& result);
absl::Status WriteResultsCsv(const std::string& path, const SegmentedStream& stream, const ReplayResult& result);
absl::Status WriteRecallSvg(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                            const ReplayResult& result);
std::string ResultsTable(const SegmentedStream& stream, const ReplayResult& result);  // human-readable
std::string SummaryJsonLine(const ReportInfo& info, const SegmentedStream& stream, const ReplayResult& result);

// ---------------------------------------------------------------------------------------------------------------
// Synthetic streams in each dataset's raw format (numbers and their sources: eval/PROFILES.md).
// ---------------------------------------------------------------------------------------------------------------

struct SynthProfile {
  std::string name;    // "taobao2014", "taobao2015", "netflix", "foursquare"
  Format format;
  TimeUnit unit;
  int segments;
  int64_t first_period_start;  // UTC seconds of segment 0's period start
  // Full-scale shape after the protocol's preprocessing (scale 1.0).
  int64_t users, items, interactions;
  double base_user_fraction;  // users present in segment 0; the rest arrive evenly later
  double base_item_fraction;
  double popularity_zipf;     // Zipf exponent of item appeal within a community
  int communities;            // planted communities
  double drift_per_segment;   // probability a user's interest moves to the next community each segment
  double item_lifetime;       // in segments: an item's appeal decays as exp(-age / lifetime)
};
absl::StatusOr<SynthProfile> GetSynthProfile(const std::string& name);

struct SynthOptions {
  std::string profile = "taobao2014";
  double scale = 0.01;
  uint64_t seed = 7;
  std::string out;  // file path (netflix: one combined_data-style file)
};
struct SynthStats {
  int64_t users = 0, items = 0, lines = 0;
  int segments = 0;
};
absl::StatusOr<SynthStats> WriteSynthetic(const SynthOptions& options);

}  // namespace gpt4rec::eval
