// gpt4rec.v1.Recommender over the Engine: auth, request limits, proto <-> engine mapping, metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "server/engine.h"
#include "server/ingest_stream.h"
#include "server/metrics.h"
#include "server/service.h"
#include "server/work_pool.h"

namespace gpt4rec::server {

// Ingest, IngestStream and Recommend use gRPC's raw callback API:
//  - no gRPC thread blocks per call or per open stream: Recommend's handler queues the request to the
//    micro-batcher and a scoring thread finishes it; ingest work runs on a bounded WorkPool (--max_inflight_ingest
//    threads) and finishes the call from there; an idle IngestStream holds no thread (server/ingest_stream.h);
//  - the server parses the request bytes itself (server/wire_parse.h), so an id that is not UTF-8 gets
//    INVALID_ARGUMENT naming the field, not gRPC's empty INTERNAL.
// DeleteUser and Snapshot carry ids too, so they are raw as well; they block for seconds (a compaction, a copy),
// so each call runs on a thread of its own (admin RPCs: rare). GetStats and CloseSegment stay synchronous.
using RecommenderServiceBase = gpt4rec::v1::Recommender::WithRawCallbackMethod_Ingest<
    gpt4rec::v1::Recommender::WithRawCallbackMethod_IngestStream<
        gpt4rec::v1::Recommender::WithRawCallbackMethod_Recommend<
            gpt4rec::v1::Recommender::WithRawCallbackMethod_DeleteUser<
                gpt4rec::v1::Recommender::WithRawCallbackMethod_Snapshot<gpt4rec::v1::Recommender::Service>>>>>;

class RecommenderService final : public RecommenderServiceBase {
 public:
  RecommenderService(const ServerOptions& options, Metrics* metrics);

  // nullptr: not ready (every RPC answers UNAVAILABLE). Set once the engine is open; cleared before it stops.
  void SetEngine(Engine* engine) { engine_.store(engine); }

  // Ends ingest work: waits for posted batches to finish (call after the gRPC server has shut down, before the
  // engine stops).
  void StopWork();
  int open_streams() const { return streams_.active(); }

  grpc::ServerUnaryReactor* Ingest(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* reply) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* reply) override;
  grpc::Status CloseSegment(grpc::ServerContext* context, const gpt4rec::v1::CloseSegmentRequest* request,
                            gpt4rec::v1::CloseSegmentReply* reply) override;
  grpc::Status GetStats(grpc::ServerContext* context, const gpt4rec::v1::GetStatsRequest* request,
                        gpt4rec::v1::GetStatsReply* reply) override;
  grpc::ServerUnaryReactor* DeleteUser(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* Snapshot(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* reply) override;

 private:
  // UNAVAILABLE before the engine is ready, UNAUTHENTICATED / PERMISSION_DENIED per the tokens.
  grpc::Status Admit(const grpc::ServerContextBase* context, bool admin, Engine** engine) const;
  using IngestDone = std::function<void(grpc::Status, const gpt4rec::v1::IngestReply&)>;
  // One raw ingest batch: reserves in-flight room (or answers RESOURCE_EXHAUSTED at once), then on the work pool
  // parses, validates, writes and calls `done`. `request` must stay valid until `done` runs.
  void SubmitIngest(Engine* engine, const grpc::ByteBuffer& request, IngestDone done);
  grpc::Status DoDeleteUser(Engine* engine, const gpt4rec::v1::DeleteUserRequest& request,
                            gpt4rec::v1::DeleteUserReply* reply);
  grpc::Status DoSnapshot(Engine* engine, const gpt4rec::v1::SnapshotRequest& request,
                          gpt4rec::v1::SnapshotReply* reply);
  // Validation, storage write, metrics for a parsed batch.
  grpc::Status IngestOne(Engine* engine, const gpt4rec::v1::IngestRequest& request, gpt4rec::v1::IngestReply* reply);

  const ServerOptions options_;
  Metrics* const metrics_;
  std::atomic<Engine*> engine_{nullptr};
  // Bounded in-flight ingest work: batches and bytes being validated or written right now.
  std::atomic<int> inflight_batches_{0};
  std::atomic<int64_t> inflight_bytes_{0};
  std::unique_ptr<WorkPool> ingest_pool_;
  StreamRegistry streams_;
};

}  // namespace gpt4rec::server
