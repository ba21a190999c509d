// server/ — the gpt4rec.v1.Recommender gRPC service. This header is the module's whole contract.
//
// A Server owns the graph store (<data_dir>/graph), the model (<data_dir>/model), the background trainer, the
// Recommend micro-batcher, the health/reflection services and the Prometheus exposer. Behaviour of every RPC is
// documented in proto/gpt4rec/v1/recommender.proto; the flags of build/bin/gpt4rec-server map 1:1 onto
// ServerOptions (see `gpt4rec-server --help`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recommender_model.h"

namespace gpt4rec::server {

struct ServerOptions {
  // --- network ---
  std::string addr = "127.0.0.1:50051";  // host:port; port 0 picks a free port (see Server::port())
  int metrics_port = -1;                 // Prometheus /metrics; -1 off, 0 picks a free port
  std::string metrics_bind = "0.0.0.0";
  int grpc_threads = 0;                  // max gRPC polling/handler threads; 0 = gRPC's default
  // Keepalive: the server pings a connection idle this long and drops it when the ping is not answered within
  // keepalive_timeout_ms, so a vanished producer's streams are reaped. Also the shortest client ping interval
  // the server accepts. 0 turns the server's pings off.
  int keepalive_ms = 30000;
  int keepalive_timeout_ms = 10000;

  // --- storage ---
  std::string data_dir;                  // required; created if missing
  std::string segment = "manual";        // hour | day | month | events:N | manual
  bool sync_wal = false;                 // fsync the WAL per ingest batch (survives power loss, slower)
  uint64_t min_free_disk_mb = 64;        // below this much free space writes are refused (disk full)
  uint64_t event_id_window = 1 << 20;    // event ids held in RAM for dedup; older ones are checked in RocksDB

  // --- cluster mode (README "More than one machine"); log empty: single process, the embedded store only ---
  std::string log;                       // nats://HOST:PORT[,HOST:PORT...]: the event log is a JetStream stream
  std::string log_stream = "GPT4REC";    // stream name (subject <stream>.log); one per deployment
  int log_replicas = 3;                  // JetStream replication factor when this server creates the stream
  int64_t log_max_age_s = 0;             // retention of the stream by age when created here (0: keep everything)
  int log_publish_timeout_ms = 5000;     // an unacknowledged write answers UNAVAILABLE after this long
  int log_apply_wait_ms = 10000;         // a write waits this long for this replica to apply it before answering
  int max_min_sequence_wait_ms = 2000;   // a Recommend with min_sequence waits at most this long for it
  std::string log_credentials;           // NATS .creds file
  std::string log_ca;                    // PEM CA: TLS to NATS
  int trainer_lease_ms = 10000;          // the trainer lease's TTL: a dead trainer is replaced after this long

  // --- limits (beyond them: RESOURCE_EXHAUSTED, nothing applied) ---
  uint32_t max_events_per_request = 10000;
  int64_t max_message_bytes = 16 << 20;  // gRPC max receive size
  int max_inflight_ingest = 16;          // concurrent ingest batches being written
  int64_t max_inflight_ingest_bytes = 256 << 20;
  uint32_t max_k = 1000;
  size_t max_pending_recommend = 4096;   // Recommend requests queued for scoring
  // Shedding by time: a Recommend whose expected queueing delay exceeds this (or its own deadline) is refused at
  // once, and one that has waited this long before its scoring pass starts is refused then. 0: count bound only.
  int max_queue_ms = 50;
  int max_streams = 1000;                // concurrent IngestStreams; beyond: RESOURCE_EXHAUSTED (0: no cap)
  int stream_idle_timeout_ms = 300000;   // an IngestStream waiting this long for a batch is closed (0: never)
  // Events dated more than this many seconds after the server's clock are refused (INVALID_ARGUMENT): one
  // far-future event would otherwise open a segment that later events cannot close. -1: no bound.
  int64_t max_future_skew = 86400;

  // --- recommend ---
  int scoring_threads = 2;               // micro-batcher workers
  int max_batch = 32;                    // requests scored per pass over the item matrix
  int batch_window_us = 0;               // >0: a partial batch waits this long for more requests
  uint64_t popular_window_events = 100000;  // POPULAR ranks items of the last N events
  int refresh_ms = 500;                  // how often the popular list is recomputed (when events arrived)
  // Online (prequential) hit rate: the last list served to each of at most online_max_users users (0: off) is
  // kept for online_window_s seconds; each ingested event of such a user counts as a hit when its item was in it.
  uint64_t online_max_users = 100000;
  int64_t online_window_s = 3600;

  // --- training ---
  model::ModelConfig model;              // strategy, dim, epochs, ..., threads (torch)
  double valid_fraction = 0.1;           // share of a segment's new edges held out for early stopping
  uint64_t split_seed = 7;

  // --- security ---
  std::string auth_token;                // every RPC needs `authorization: Bearer <auth_token>` when set
  std::string admin_token;               // CloseSegment, DeleteUser, Snapshot need it when set
  std::string tls_cert;                  // PEM files; both set: TLS, else plaintext
  std::string tls_key;
};

class Server {
 public:
  // Binds, opens storage and the last model, starts serving. Health is NOT_SERVING until both are loaded.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  virtual ~Server() = default;

  // The bound gRPC port and metrics port (-1 when off).
  virtual int port() const = 0;
  virtual int metrics_port() const = 0;

  // Blocks until Shutdown() has finished (from another thread).
  virtual void Wait() = 0;
  // Graceful: health NOT_SERVING, stop accepting, finish in-flight RPCs (up to `grace_ms`), interrupt a running
  // training (its segment is retrained after restart), flush storage. Idempotent.
  virtual void Shutdown(int grace_ms = 5000) = 0;
};

}  // namespace gpt4rec::server
