#include "server/dashboard_api.h"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/dashboard_page.h"
#include "server/engine.h"
#include "server/same_secret.h"
#include "server/training_summary.h"

namespace gpt4rec::server {
namespace {

using nlohmann::json;

constexpr size_t kRecentItemsShown = 20;
constexpr uint32_t kDefaultK = 10;

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: '+' is a space, %XX a byte (what the page's encodeURIComponent writes).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The value of `name` in a query string, decoded; nullopt when absent.
std::optional<std::string> QueryParam(const std::string& query, std::string_view name) {
  for (absl::string_view piece : absl::StrSplit(query, '&')) {
    const std::string_view pair(piece.data(), piece.size());
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

void Error(HttpResponse* response, const char* status, const std::string& message) {
  response->status = status;
  response->body = json{{"error", message}}.dump();
}

const char* SourceName(RecSource s) {
  switch (s) {
    case RecSource::kModel: return "MODEL";
    case RecSource::kFoldIn: return "FOLD_IN";
    case RecSource::kPopular: return "POPULAR";
  }
  return "SOURCE_UNSPECIFIED";
}

json OnlineJson(uint64_t version, const OnlineCounts& c) {
  const double n = static_cast<double>(c.events);
  return {{"model_version", version},
          {"events", c.events},
          {"hits_at_10", c.hits_at_10},
          {"hits_at_20", c.hits_at_20},
          {"hit_rate_at_10", c.events == 0 ? 0.0 : c.hits_at_10 / n},
          {"hit_rate_at_20", c.events == 0 ? 0.0 : c.hits_at_20 / n}};
}

// The JSON form of a reply with its explanation: the proto's field names (gpt4rec.v1.RecommendReply).
json RecommendationJson(const RecResult& r) {
  json items = json::array();
  for (size_t i = 0; i < r.items.size(); ++i) {
    json item = {{"item_id", r.items[i].item_id}, {"score", r.items[i].score}};
    if (r.explanation && i < r.explanation->items.size()) {
      const RecItemExplanation& e = r.explanation->items[i];
      json because = json::array();
      for (const auto& c : e.because_of) because.push_back({{"item_id", c.item_id}, {"share", c.share}});
      item["because_of"] = std::move(because);
      item["view_scores"] = e.view_scores;
    }
    items.push_back(std::move(item));
  }
  json out = {{"model_version", r.model_version}, {"source", SourceName(r.source)}, {"items", std::move(items)}};
  if (r.explanation) {
    const RecExplanation& e = *r.explanation;
    out["view_weights"] = e.view_weights;
    out["view_weights_source"] = e.view_weights_source == ViewWeightsSource::kGamma     ? "gamma"
                                 : e.view_weights_source == ViewWeightsSource::kUniform ? "uniform"
                                                                                        : "none";
    out["built_from"] = e.built_from;
    out["fold_in_item_ids"] = e.fold_in_item_ids;
    out["fold_in_item_count"] = e.fold_in_item_count;
    out["popular_first_sequence"] = e.popular_first_sequence;
    out["popular_last_sequence"] = e.popular_last_sequence;
  }
  return out;
}

}  // namespace

DashboardApi::DashboardApi(const ServerOptions& options, Metrics* metrics) : options_(options), metrics_(metrics) {
  sampler_ = std::thread([this] { SampleLoop(); });
}

DashboardApi::~DashboardApi() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void DashboardApi::SetEngine(Engine* engine) {
  std::unique_lock<std::shared_mutex> lock(engine_mu_);
  engine_ = engine;
  if (engine_ != nullptr) TakeSample(*engine_);  // the series starts when serving does
}

void DashboardApi::SampleLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::seconds(kSampleSeconds), [this] { return stop_; })) {
    std::shared_lock<std::shared_mutex> engine_lock(engine_mu_);
    if (engine_ != nullptr) TakeSample(*engine_);
  }
}

void DashboardApi::TakeSample(Engine& engine) {
  const EngineStats stats = engine.GetStats();
  Sample s;
  s.unix_ms = UnixMs();
  s.events = stats.counts.events;
  if (metrics_) {
    s.recommendations = static_cast<uint64_t>(metrics_->recommend_model->Value() + metrics_->recommend_fold_in->Value() +
                                              metrics_->recommend_popular->Value());
  }
  s.online_events = stats.online.total.events;
  s.online_hits_at_10 = stats.online.total.hits_at_10;
  s.online_hits_at_20 = stats.online.total.hits_at_20;
  std::lock_guard<std::mutex> lock(samples_mu_);
  samples_.push_back(s);
  if (samples_.size() > kSamplesKept) samples_.pop_front();
}

bool DashboardApi::Handle(const HttpRequest& request, HttpResponse* response) {
  if (request.path == "/" || request.path == "/index.html") {
    response->type = "text/html; charset=utf-8";
    response->body = std::string(DashboardPage());
    return true;
  }
  if (request.path.rfind("/api/", 0) != 0) return false;
  response->type = "application/json";
  std::shared_lock<std::shared_mutex> lock(engine_mu_);
  if (engine_ == nullptr) {
    Error(response, "503 Service Unavailable", "server is starting or shutting down");
    return true;
  }
  if (request.path == "/api/overview") {
    response->body = Overview(*engine_).dump();
  } else if (request.path == "/api/models") {
    response->body = Models(*engine_).dump();
  } else if (request.path == "/api/series") {
    response->body = Series().dump();
  } else if (request.path == "/api/user") {
    User(*engine_, request, response);
  } else {
    Error(response, "404 Not Found", absl::StrCat(request.path, ": no such endpoint (/api/overview, /api/models, "
                                                  "/api/series, /api/user?id=)"));
  }
  return true;
}

json DashboardApi::Overview(Engine& engine) const {
  const EngineStats stats = engine.GetStats();
  json segments = json::array();
  for (const storage::SegmentInfo& s : engine.Segments()) {
    segments.push_back({{"index", s.index},
                        {"closed", s.closed},
                        {"events", s.events},
                        {"first_sequence", s.first_sequence},
                        {"end_sequence", s.end_sequence},
                        {"min_time", s.min_time},
                        {"max_time", s.max_time}});
  }
  json by_version = json::array();
  for (const auto& [version, c] : stats.online.by_version) by_version.push_back(OnlineJson(version, c));
  return {{"model_version", stats.model_version},
          {"users", stats.counts.users},
          {"items", stats.counts.items},
          {"edges", stats.counts.edges},
          {"events", stats.counts.events},
          {"open_segment", stats.open_segment.index},
          {"closed_segments", stats.closed_segments},
          {"segments", std::move(segments)},
          {"training_queue", stats.training_queue},
          {"training_now", stats.training_now},
          {"training_error", stats.training_error},
          {"trainings", stats.trainings},
          {"role", stats.role},
          {"last_training", stats.last_training.present ? TrainingSummaryJson(stats.last_training) : json()},
          {"online", OnlineJson(0, stats.online.total)},
          {"online_by_version", std::move(by_version)},
          {"online_tracked_users", stats.online.tracked_users},
          {"auth_required_for_users", !options_.auth_token.empty()},
          {"now", UnixMs() / 1000}};
}

json DashboardApi::Models(Engine& engine) const {
  json history = json::array();
  for (const TrainingSummary& s : engine.TrainingHistory()) history.push_back(TrainingSummaryJson(s));
  return {{"model_version", engine.GetStats().model_version}, {"trainings", std::move(history)}};
}

json DashboardApi::Series() const {
  json samples = json::array();
  std::lock_guard<std::mutex> lock(samples_mu_);
  for (const Sample& s : samples_) {
    samples.push_back({{"t", s.unix_ms},
                       {"events", s.events},
                       {"recommendations", s.recommendations},
                       {"online_events", s.online_events},
                       {"online_hits_at_10", s.online_hits_at_10},
                       {"online_hits_at_20", s.online_hits_at_20}});
  }
  return {{"interval_s", kSampleSeconds}, {"samples", std::move(samples)}};
}

bool DashboardApi::User(Engine& engine, const HttpRequest& request, HttpResponse* response) const {
  if (!options_.auth_token.empty()) {
    constexpr char kPrefix[] = "Bearer ";
    const std::string token =
        request.authorization.rfind(kPrefix, 0) == 0 ? request.authorization.substr(sizeof(kPrefix) - 1) : "";
    if (!SameSecret(token, options_.auth_token) && !SameSecret(token, options_.admin_token)) {
      Error(response, "401 Unauthorized", "missing or wrong `Authorization: Bearer <token>` (the server's --auth_token)");
      return false;
    }
  }
  const std::string id = QueryParam(request.query, "id").value_or("");
  if (id.empty()) {
    Error(response, "400 Bad Request", "id: empty");
    return false;
  }
  if (id.size() > storage::kMaxIdBytes) {
    Error(response, "400 Bad Request", absl::StrCat("id: too long (", id.size(), " bytes, max ", storage::kMaxIdBytes, ")"));
    return false;
  }
  uint32_t k = kDefaultK;
  if (auto text = QueryParam(request.query, "k")) {
    if (!absl::SimpleAtoi(*text, &k) || k == 0 || k > options_.max_k) {
      Error(response, "400 Bad Request", absl::StrCat("k: '", *text, "' is not in 1..--max_k=", options_.max_k));
      return false;
    }
  }
  json recent = json::array();
  for (const auto& [item, time] : engine.RecentItems(id, kRecentItemsShown)) {
    recent.push_back({{"item_id", item}, {"time", time}});
  }
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecResult>>>();
  auto future = promise->get_future();
  Engine::RecOptions rec;
  rec.explain = true;
  rec.served_to_user = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  engine.Recommend(id, k, {}, rec, deadline,
                   [promise](absl::StatusOr<RecResult> result) { promise->set_value(std::move(result)); });
  // The micro-batcher answers by the deadline (it refuses what it cannot score in time); the margin is for a
  // scoring pass already running at the deadline.
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    Error(response, "504 Gateway Timeout", "recommend: no answer within 10 s");
    return false;
  }
  absl::StatusOr<RecResult> result = future.get();
  if (!result.ok()) {
    Error(response, "503 Service Unavailable", absl::StrCat("recommend: ", result.status().ToString()));
    return false;
  }
  response->body = json{{"user_id", id},
                        {"known", !recent.empty()},
                        {"recent_items", std::move(recent)},
                        {"recommendation", RecommendationJson(*result)}}
                       .dump();
  return true;
}

}  // namespace gpt4rec::server
