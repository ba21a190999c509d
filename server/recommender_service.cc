#include "server/recommender_service.h"

#include <chrono>
#include <ctime>
#include <limits>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/event_validation.h"
#include "server/same_secret.h"
#include "server/training_summary.h"
#include "server/wire_parse.h"

namespace gpt4rec::server {
namespace v1 = gpt4rec::v1;
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string BearerToken(const grpc::ServerContextBase* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {};
  const std::string value(it->second.data(), it->second.size());
  constexpr char kPrefix[] = "Bearer ";
  if (value.rfind(kPrefix, 0) != 0) return {};
  return value.substr(sizeof(kPrefix) - 1);
}

// `reply` holds the items already (the explanation repeats their ids, so a reader needs no index arithmetic).
void ToProto(const RecExplanation& e, const v1::RecommendReply& reply, v1::Explanation* out) {
  for (size_t i = 0; i < e.items.size() && i < static_cast<size_t>(reply.items_size()); ++i) {
    auto* item = out->add_items();
    item->set_item_id(reply.items(static_cast<int>(i)).item_id());
    for (const auto& c : e.items[i].because_of) {
      auto* because = item->add_because_of();
      because->set_item_id(c.item_id);
      because->set_share(c.share);
    }
    for (float v : e.items[i].view_scores) item->add_view_scores(v);
  }
  for (float w : e.view_weights) out->add_view_weights(w);
  switch (e.view_weights_source) {
    case ViewWeightsSource::kNone: out->set_view_weights_source(v1::Explanation::VIEW_WEIGHTS_NONE); break;
    case ViewWeightsSource::kGamma: out->set_view_weights_source(v1::Explanation::VIEW_WEIGHTS_GAMMA); break;
    case ViewWeightsSource::kUniform: out->set_view_weights_source(v1::Explanation::VIEW_WEIGHTS_UNIFORM); break;
  }
  out->set_built_from(e.built_from);
  for (const auto& id : e.fold_in_item_ids) out->add_fold_in_item_ids(id);
  out->set_fold_in_item_count(e.fold_in_item_count);
  out->set_popular_first_sequence(e.popular_first_sequence);
  out->set_popular_last_sequence(e.popular_last_sequence);
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Releases an in-flight ingest reservation on every path out of IngestOne.
class InflightGuard {
 public:
  InflightGuard(std::atomic<int>* batches, std::atomic<int64_t>* bytes, int64_t n) : batches_(batches), bytes_(bytes), n_(n) {}
  ~InflightGuard() {
    batches_->fetch_sub(1);
    bytes_->fetch_sub(n_);
  }

 private:
  std::atomic<int>* batches_;
  std::atomic<int64_t>* bytes_;
  int64_t n_;
};

}  // namespace

RecommenderService::RecommenderService(const ServerOptions& options, Metrics* metrics)
    : options_(options),
      metrics_(metrics),
      ingest_pool_(std::make_unique<WorkPool>(options.max_inflight_ingest, "gpt4rec-ingest")),
      streams_(options.max_streams, options.stream_idle_timeout_ms) {}

void RecommenderService::StopWork() { ingest_pool_.reset(); }

grpc::Status RecommenderService::Admit(const grpc::ServerContextBase* context, bool admin, Engine** engine) const {
  *engine = engine_.load();
  if (*engine == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is starting or shutting down");
  if (options_.auth_token.empty() && (!admin || options_.admin_token.empty())) return grpc::Status::OK;
  const std::string token = BearerToken(context);
  // The admin token also authenticates, so an operator needs only one.
  const bool is_admin = !options_.admin_token.empty() && SameSecret(token, options_.admin_token);
  const bool is_user = !options_.auth_token.empty() && SameSecret(token, options_.auth_token);
  if (!options_.auth_token.empty() && !is_user && !is_admin) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong `authorization: Bearer <token>`");
  }
  if (admin && !options_.admin_token.empty() && !is_admin) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "admin RPC: needs the admin token");
  }
  return grpc::Status::OK;
}

void RecommenderService::SubmitIngest(Engine* engine, const grpc::ByteBuffer& request, IngestDone done) {
  const int64_t bytes = static_cast<int64_t>(request.Length());
  const int batches = inflight_batches_.fetch_add(1) + 1;
  const int64_t total_bytes = inflight_bytes_.fetch_add(bytes) + bytes;
  auto guard = std::make_shared<InflightGuard>(&inflight_batches_, &inflight_bytes_, bytes);
  if (batches > options_.max_inflight_ingest || total_bytes > options_.max_inflight_ingest_bytes) {
    guard.reset();
    if (metrics_) metrics_->ingest_overloaded->Increment();
    done(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat("ingest overloaded: ", batches, " batches / ", total_bytes,
                                   " bytes in flight (--max_inflight_ingest=", options_.max_inflight_ingest,
                                   ", --max_inflight_ingest_bytes=", options_.max_inflight_ingest_bytes,
                                   "); retry with backoff")),
         v1::IngestReply());
    return;
  }
  // The reservation bounds what is queued here: at most --max_inflight_ingest batches, one per pool thread.
  ingest_pool_->Post([this, engine, &request, guard = std::move(guard), done = std::move(done)]() mutable {
    v1::IngestRequest parsed;
    v1::IngestReply reply;
    grpc::Status status = ParseRequest(request, &parsed);
    if (!status.ok()) {
      if (metrics_) metrics_->ingest_invalid->Increment();
    } else {
      status = IngestOne(engine, parsed, &reply);
    }
    guard.reset();  // the batch is written (or refused): room for the next before its reply goes out
    done(status, reply);
  });
}

grpc::Status RecommenderService::IngestOne(Engine* engine, const v1::IngestRequest& request, v1::IngestReply* reply) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t latest = options_.max_future_skew < 0
                             ? std::numeric_limits<int64_t>::max()
                             : static_cast<int64_t>(std::time(nullptr)) + options_.max_future_skew;
  auto events = ToStorageEvents(request, options_.max_events_per_request, latest);
  if (!events.ok()) {
    if (metrics_) {
      (events.status().code() == absl::StatusCode::kResourceExhausted ? metrics_->ingest_overloaded
                                                                      : metrics_->ingest_invalid)
          ->Increment();
    }
    return ToGrpc(events.status());
  }
  uint64_t log_sequence = 0;
  auto result = engine->Ingest(*events, &log_sequence);
  if (!result.ok()) {
    if (metrics_ && result.status().code() == absl::StatusCode::kInvalidArgument) metrics_->ingest_invalid->Increment();
    return ToGrpc(result.status());
  }
  reply->set_accepted(result->appended);
  reply->set_duplicates(result->duplicates);
  reply->set_last_sequence(result->last_sequence);
  reply->set_log_sequence(log_sequence);
  for (uint32_t s : result->closed_segments) reply->add_closed_segments(s);
  if (metrics_) {
    metrics_->ingest_events->Increment(result->appended);
    metrics_->ingest_duplicates->Increment(result->duplicates);
    metrics_->ingest_batches->Increment();
    metrics_->ingest_latency->Observe(SecondsSince(t0));
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RecommenderService::Ingest(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request, grpc::ByteBuffer* reply) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Engine* engine;
  if (grpc::Status s = Admit(context, false, &engine); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  SubmitIngest(engine, *request, [reactor, reply](grpc::Status status, const v1::IngestReply& result) {
    if (status.ok()) SerializeReply(result, reply);
    reactor->Finish(status);
  });
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* RecommenderService::IngestStream(
    grpc::CallbackServerContext* context) {
  Engine* engine;
  grpc::Status admitted = Admit(context, false, &engine);
  return streams_.Open(
      [this, engine](const grpc::ByteBuffer& request, IngestDone done) {
        SubmitIngest(engine, request, std::move(done));
      },
      admitted);
}

grpc::ServerUnaryReactor* RecommenderService::Recommend(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* raw_request,
                                                        grpc::ByteBuffer* raw_reply) {
  const auto t0 = std::chrono::steady_clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Engine* engine;
  if (grpc::Status s = Admit(context, false, &engine); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  v1::RecommendRequest parsed;
  if (grpc::Status s = ParseRequest(*raw_request, &parsed); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  const v1::RecommendRequest* request = &parsed;
  // The client's deadline on the steady clock: shedding refuses what cannot be scored before it.
  auto deadline = std::chrono::steady_clock::time_point::max();
  const auto client_deadline = context->deadline();
  if (client_deadline < std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        client_deadline - std::chrono::system_clock::now());
  }
  auto invalid = [&](std::string message) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message)));
    return reactor;
  };
  if (request->user_id().empty()) return invalid("user_id: empty");
  if (request->user_id().size() > storage::kMaxIdBytes) {
    return invalid(absl::StrCat("user_id: too long (", request->user_id().size(), " bytes, max ",
                                storage::kMaxIdBytes, ")"));
  }
  const uint32_t k = request->k() == 0 ? 20 : request->k();
  if (k > options_.max_k) return invalid(absl::StrCat("k: ", k, " exceeds --max_k=", options_.max_k));
  if (static_cast<uint32_t>(request->exclude_item_ids_size()) > options_.max_events_per_request) {
    return invalid(absl::StrCat("exclude_item_ids: ", request->exclude_item_ids_size(), " ids, max ",
                                options_.max_events_per_request));
  }
  std::vector<std::string> exclude(request->exclude_item_ids().begin(), request->exclude_item_ids().end());
  Metrics* metrics = metrics_;
  // Ranks once min_sequence is applied here (or its wait ran out); `parsed` lives on this stack, so the
  // request's fields are copied for a ranking that runs later on the log's thread.
  auto rank = [engine, reactor, raw_reply, metrics, t0, deadline, user_id = request->user_id(), k,
               exclude = std::move(exclude),
               options = Engine::RecOptions{request->include_seen(), request->explain()}](bool reached) {
    engine->Recommend(user_id, k, exclude, options, deadline,
                      [reactor, raw_reply, metrics, t0, reached](absl::StatusOr<RecResult> result) {
      if (!result.ok()) {
        if (metrics && result.status().code() == absl::StatusCode::kResourceExhausted) {
          metrics->recommend_overloaded->Increment();
        }
        reactor->Finish(ToGrpc(result.status()));
        return;
      }
      v1::RecommendReply reply_message;
      v1::RecommendReply* reply = &reply_message;
      for (auto& item : result->items) {
        auto* out = reply->add_items();
        out->set_item_id(std::move(item.item_id));
        out->set_score(item.score);
      }
      reply->set_model_version(result->model_version);
      reply->set_min_sequence_reached(reached);
      if (result->explanation) ToProto(*result->explanation, *reply, reply->mutable_explanation());
      switch (result->source) {
        case RecSource::kModel:
          reply->set_source(v1::MODEL);
          if (metrics) metrics->recommend_model->Increment();
          break;
        case RecSource::kFoldIn:
          reply->set_source(v1::FOLD_IN);
          if (metrics) metrics->recommend_fold_in->Increment();
          break;
        case RecSource::kPopular:
          reply->set_source(v1::POPULAR);
          if (metrics) metrics->recommend_popular->Increment();
          break;
      }
      if (metrics) metrics->recommend_latency->Observe(SecondsSince(t0));
      SerializeReply(reply_message, raw_reply);
      reactor->Finish(grpc::Status::OK);
    });
  };
  if (request->min_sequence() == 0) {
    rank(true);
  } else {
    const auto bound = t0 + std::chrono::milliseconds(options_.max_min_sequence_wait_ms);
    engine->WhenApplied(request->min_sequence(), std::min(bound, deadline), std::move(rank));
  }
  return reactor;
}

grpc::Status RecommenderService::CloseSegment(grpc::ServerContext* context, const v1::CloseSegmentRequest*,
                                              v1::CloseSegmentReply* reply) {
  Engine* engine;
  if (grpc::Status s = Admit(context, true, &engine); !s.ok()) return s;
  auto info = engine->CloseSegment();
  if (!info.ok()) return ToGrpc(info.status());
  reply->set_closed_segment(info->index);
  reply->set_events(info->events);
  return grpc::Status::OK;
}

grpc::Status RecommenderService::GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                                          v1::GetStatsReply* reply) {
  Engine* engine;
  if (grpc::Status s = Admit(context, false, &engine); !s.ok()) return s;
  const EngineStats stats = engine->GetStats(request->graph_digest());
  reply->set_role(stats.role);
  reply->set_applied_sequence(stats.applied_sequence);
  reply->set_log_last_sequence(stats.log_last_sequence);
  reply->set_log_lag(stats.log_last_sequence > stats.applied_sequence ? stats.log_last_sequence - stats.applied_sequence : 0);
  reply->set_log_connected(stats.log_connected);
  reply->set_graph_digest(stats.graph_digest);
  reply->set_trainings(stats.trainings);
  auto online = [](uint64_t version, const OnlineCounts& c, v1::OnlineHitRate* out) {
    out->set_model_version(version);
    out->set_events(c.events);
    out->set_hits_at_10(c.hits_at_10);
    out->set_hits_at_20(c.hits_at_20);
    out->set_hit_rate_at_10(c.events == 0 ? 0.0 : static_cast<double>(c.hits_at_10) / c.events);
    out->set_hit_rate_at_20(c.events == 0 ? 0.0 : static_cast<double>(c.hits_at_20) / c.events);
  };
  online(0, stats.online.total, reply->mutable_online());
  for (const auto& [version, c] : stats.online.by_version) online(version, c, reply->add_online_by_version());
  reply->set_online_tracked_users(stats.online.tracked_users);
  reply->set_users(stats.counts.users);
  reply->set_items(stats.counts.items);
  reply->set_edges(stats.counts.edges);
  reply->set_events(stats.counts.events);
  reply->set_open_segment(stats.open_segment.index);
  reply->set_open_segment_start(stats.open_segment.events > 0 ? stats.open_segment.min_time : 0);
  reply->set_open_segment_end(stats.open_segment.events > 0 ? stats.open_segment.max_time : 0);
  reply->set_open_segment_events(stats.open_segment.events);
  reply->set_closed_segments(stats.closed_segments);
  reply->set_model_version(stats.model_version);
  reply->set_training_queue(stats.training_queue);
  reply->set_training_now(stats.training_now);
  reply->set_training_error(stats.training_error);
  if (stats.last_training.present) {
    // The summary's JSON form has the proto's field names (server/training_summary.h): no second field list.
    const auto parsed = google::protobuf::util::JsonStringToMessage(TrainingSummaryJson(stats.last_training).dump(),
                                                                    reply->mutable_last_training());
    if (!parsed.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "last_training: " + parsed.ToString());
  }
  return grpc::Status::OK;
}

// An admin RPC that blocks: admitted and parsed here, run on a thread of its own, finished from there. gRPC's
// shutdown waits for the call to finish, so the engine outlives the thread's use of it.
template <typename Request, typename Reply, typename Fn>
grpc::ServerUnaryReactor* RunBlocking(grpc::CallbackServerContext* context, grpc::Status admitted, Engine* engine,
                                      const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_reply, Fn fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!admitted.ok()) {
    reactor->Finish(admitted);
    return reactor;
  }
  auto request = std::make_shared<Request>();
  if (grpc::Status s = ParseRequest(*raw_request, request.get()); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  std::thread([reactor, engine, request, raw_reply, fn]() {
    Reply reply;
    grpc::Status status = fn(engine, *request, &reply);
    if (status.ok()) SerializeReply(reply, raw_reply);
    reactor->Finish(status);
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* RecommenderService::DeleteUser(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request, grpc::ByteBuffer* reply) {
  Engine* engine;
  grpc::Status admitted = Admit(context, true, &engine);
  return RunBlocking<v1::DeleteUserRequest, v1::DeleteUserReply>(
      context, admitted, engine, request, reply,
      [this](Engine* e, const v1::DeleteUserRequest& r, v1::DeleteUserReply* out) { return DoDeleteUser(e, r, out); });
}

grpc::ServerUnaryReactor* RecommenderService::Snapshot(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request, grpc::ByteBuffer* reply) {
  Engine* engine;
  grpc::Status admitted = Admit(context, true, &engine);
  return RunBlocking<v1::SnapshotRequest, v1::SnapshotReply>(
      context, admitted, engine, request, reply,
      [this](Engine* e, const v1::SnapshotRequest& r, v1::SnapshotReply* out) { return DoSnapshot(e, r, out); });
}

grpc::Status RecommenderService::DoDeleteUser(Engine* engine, const v1::DeleteUserRequest& request_ref,
                                              v1::DeleteUserReply* reply) {
  const v1::DeleteUserRequest* request = &request_ref;
  if (request->user_id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "user_id: empty");
  auto result = engine->DeleteUser(request->user_id());
  if (!result.ok()) return ToGrpc(result.status());
  reply->set_deleted(result->deleted);
  reply->set_edges_removed(result->edges_removed);
  return grpc::Status::OK;
}

grpc::Status RecommenderService::DoSnapshot(Engine* engine, const v1::SnapshotRequest& request_ref,
                                            v1::SnapshotReply* reply) {
  const v1::SnapshotRequest* request = &request_ref;
  auto result = engine->Backup(request->dir());
  if (!result.ok()) return ToGrpc(result.status());
  reply->set_dir(result->dir);
  reply->set_events(result->events);
  reply->set_model_version(result->model_version);
  return grpc::Status::OK;
}

}  // namespace gpt4rec::server
