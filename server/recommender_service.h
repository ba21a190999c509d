// gpt4rec.v1.Recommender over the Engine: auth, request limits, proto <-> engine mapping, metrics.
#pragma once

#include <atomic>
#include <cstdint>

#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/service.h"

namespace gpt4rec::server {

// Recommend uses gRPC's callback API: the handler queues the request to the micro-batcher and returns; the
// scoring thread finishes the call. No gRPC thread blocks per request (saves a thread hand-off per call).
class RecommenderService final : public gpt4rec::v1::Recommender::WithCallbackMethod_Recommend<
                                     gpt4rec::v1::Recommender::Service> {
 public:
  RecommenderService(const ServerOptions& options, Metrics* metrics);

  // nullptr: not ready (every RPC answers UNAVAILABLE). Set once the engine is open; cleared before it stops.
  void SetEngine(Engine* engine) { engine_.store(engine); }

  grpc::Status Ingest(grpc::ServerContext* context, const gpt4rec::v1::IngestRequest* request,
                      gpt4rec::v1::IngestReply* reply) override;
  grpc::Status IngestStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<gpt4rec::v1::IngestReply, gpt4rec::v1::IngestRequest>* stream) override;
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const gpt4rec::v1::RecommendRequest* request,
                                      gpt4rec::v1::RecommendReply* reply) override;
  grpc::Status CloseSegment(grpc::ServerContext* context, const gpt4rec::v1::CloseSegmentRequest* request,
                            gpt4rec::v1::CloseSegmentReply* reply) override;
  grpc::Status GetStats(grpc::ServerContext* context, const gpt4rec::v1::GetStatsRequest* request,
                        gpt4rec::v1::GetStatsReply* reply) override;
  grpc::Status DeleteUser(grpc::ServerContext* context, const gpt4rec::v1::DeleteUserRequest* request,
                          gpt4rec::v1::DeleteUserReply* reply) override;
  grpc::Status Snapshot(grpc::ServerContext* context, const gpt4rec::v1::SnapshotRequest* request,
                        gpt4rec::v1::SnapshotReply* reply) override;

 private:
  // UNAVAILABLE before the engine is ready, UNAUTHENTICATED / PERMISSION_DENIED per the tokens.
  grpc::Status Admit(const grpc::ServerContextBase* context, bool admin, Engine** engine) const;
  // One ingest batch: limits, validation, storage write, metrics.
  grpc::Status IngestOne(Engine* engine, const gpt4rec::v1::IngestRequest& request, gpt4rec::v1::IngestReply* reply);

  const ServerOptions options_;
  Metrics* const metrics_;
  std::atomic<Engine*> engine_{nullptr};
  // Bounded in-flight ingest work: batches and bytes being validated or written right now.
  std::atomic<int> inflight_batches_{0};
  std::atomic<int64_t> inflight_bytes_{0};
};

}  // namespace gpt4rec::server
