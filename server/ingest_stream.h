// IngestStream on gRPC's callback API. The old handler held a gRPC thread per open stream, so N idle streams
// (N = --grpc_threads) stopped every other RPC; here a stream waiting for its next batch holds no thread. The
// registry caps concurrent streams (--max_streams; beyond: RESOURCE_EXHAUSTED) and ends streams that waited
// longer than --stream_idle_timeout_ms for a batch (UNAVAILABLE, "idle"), so abandoned producers cannot pile up;
// keepalive pings (server.cc) reap peers that vanished without closing their connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "gpt4rec/v1/recommender.pb.h"
#include "grpcpp/grpcpp.h"

namespace gpt4rec::server {

class IngestStreamReactor;

// Submits one raw ingest batch; `done` runs once (on any thread) with the reply or the error.
using IngestSubmit = std::function<void(const grpc::ByteBuffer& request,
                                        std::function<void(grpc::Status, const gpt4rec::v1::IngestReply&)> done)>;

class StreamRegistry {
 public:
  // max_streams <= 0: no cap; idle_timeout_ms <= 0: no idle timeout.
  StreamRegistry(int max_streams, int idle_timeout_ms);
  ~StreamRegistry();

  // A new stream's reactor: it reads batches until the client closes, an error, or the idle timeout; past the
  // cap it finishes at once with RESOURCE_EXHAUSTED, and with `refused` when that is not OK (auth, not ready).
  // Deletes itself when gRPC is done with it.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Open(IngestSubmit submit,
                                                                   grpc::Status refused = grpc::Status::OK);
  int active() const;

 private:
  friend class IngestStreamReactor;
  void Remove(IngestStreamReactor* stream);
  void ReapLoop();

  const int max_streams_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<IngestStreamReactor*> streams_;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace gpt4rec::server
