#include "server/server_flags.h"

#include "absl/strings/str_cat.h"
#include "model/config_flags.h"

namespace gpt4rec::server {

void AddServerFlags(CLI::App& app, ServerOptions* o, ProcessFlags* p) {
  auto& m = o->model;
  app.option_defaults()->always_capture_default();
  // network
  app.add_option("--addr", o->addr, "gRPC listen address host:port (port 0: pick a free one)");
  app.add_option("--metrics_port", o->metrics_port, "Prometheus /metrics and the dashboard page (/) port (-1: off, 0: pick a free one)");
  app.add_option("--metrics_bind", o->metrics_bind, "address the metrics and dashboard endpoint binds to");
  app.add_option("--grpc_threads", o->grpc_threads, "max gRPC handler threads (0: gRPC default)");
  app.add_option("--keepalive_ms", o->keepalive_ms,
                 "ping a connection idle this long; also the shortest client ping interval accepted (0: no pings)");
  app.add_option("--keepalive_timeout_ms", o->keepalive_timeout_ms,
                 "drop a connection whose keepalive ping is unanswered this long");
  // storage
  app.add_option("--data_dir", o->data_dir, "data directory (graph/, model/, snapshots/); created if missing")
      ->required();
  app.add_option("--segment", o->segment, "segment policy by event time: hour | day | month | events:N | manual");
  app.add_flag("--sync_wal", o->sync_wal, "fsync the write-ahead log per ingest batch (survives power loss)");
  app.add_option("--min_free_disk_mb", o->min_free_disk_mb,
                 "below this much free space on the data directory's file system, writes are refused with "
                 "RESOURCE_EXHAUSTED (reads go on) until space is freed");
  app.add_option("--event_id_window", o->event_id_window,
                 "idempotency: the last N event ids are answered from RAM (~50 B each); older retries are still "
                 "deduplicated, from RocksDB");
  // cluster mode
  app.add_option("--log", o->log,
                 "cluster mode: the event log is a JetStream stream on these NATS servers, nats://HOST:PORT[,...] "
                 "(empty: single process)");
  app.add_option("--log_stream", o->log_stream, "cluster mode: JetStream stream name");
  app.add_option("--log_replicas", o->log_replicas, "cluster mode: replication factor of the stream when created");
  app.add_option("--log_max_age_s", o->log_max_age_s,
                 "cluster mode: drop log entries older than this when the stream is created (0: keep all)");
  app.add_option("--log_publish_timeout_ms", o->log_publish_timeout_ms,
                 "cluster mode: a write not acknowledged by JetStream within this answers UNAVAILABLE");
  app.add_option("--log_apply_wait_ms", o->log_apply_wait_ms,
                 "cluster mode: a write waits this long for this replica to apply it before answering");
  app.add_option("--max_min_sequence_wait_ms", o->max_min_sequence_wait_ms,
                 "a Recommend with min_sequence waits at most this long for the replica to reach it");
  app.add_option("--log_credentials", o->log_credentials, "cluster mode: NATS credentials (.creds) file");
  app.add_option("--log_ca", o->log_ca, "cluster mode: PEM CA file; TLS to NATS");
  app.add_option("--trainer_lease_ms", o->trainer_lease_ms,
                 "cluster mode: TTL of the trainer lease (one replica trains; another takes over this long after "
                 "it died)");
  // limits
  app.add_option("--max_events_per_request", o->max_events_per_request, "events per ingest request");
  app.add_option("--max_message_bytes", o->max_message_bytes, "largest gRPC message accepted (bytes)");
  app.add_option("--max_inflight_ingest", o->max_inflight_ingest,
                 "ingest batches processed at once; beyond: RESOURCE_EXHAUSTED");
  app.add_option("--max_inflight_ingest_bytes", o->max_inflight_ingest_bytes,
                 "bytes of ingest batches processed at once; beyond: RESOURCE_EXHAUSTED");
  app.add_option("--max_k", o->max_k, "largest k a Recommend may ask for");
  app.add_option("--max_pending_recommend", o->max_pending_recommend,
                 "Recommend requests queued for scoring; beyond: RESOURCE_EXHAUSTED");
  app.add_option("--max_queue_ms", o->max_queue_ms,
                 "refuse a Recommend (RESOURCE_EXHAUSTED) expected to queue longer than this or its deadline, or "
                 "that waited this long unscored (0: count bound only)");
  app.add_option("--max_streams", o->max_streams, "concurrent IngestStreams; beyond: RESOURCE_EXHAUSTED (0: no cap)");
  app.add_option("--stream_idle_timeout_ms", o->stream_idle_timeout_ms,
                 "close an IngestStream that waited this long for a batch (UNAVAILABLE; 0: never)");
  app.add_option("--max_future_skew", o->max_future_skew,
                 "refuse events dated more than this many seconds after the server clock (INVALID_ARGUMENT; -1: off)");
  // recommend
  app.add_option("--scoring_threads", o->scoring_threads, "threads scoring Recommend batches");
  app.add_option("--max_batch", o->max_batch, "Recommend requests scored together in one pass over the items");
  app.add_option("--batch_window_us", o->batch_window_us,
                 "a partial batch waits this long for more requests (0: score what is queued at once)");
  app.add_option("--popular_window_events", o->popular_window_events,
                 "POPULAR ranks items by their count in the last N events");
  app.add_option("--refresh_ms", o->refresh_ms, "how often the popular list and the folded-in new items are recomputed");
  app.add_option("--online_max_users", o->online_max_users,
                 "online hit rate: last served lists kept, one per user (240 B each; least recently served "
                 "forgotten first; 0: off)");
  app.add_option("--online_window_s", o->online_window_s,
                 "online hit rate: an event counts against the user's last list if it was served this recently");
  // training: every ModelConfig field, from the model's one field list
  model::AddModelConfigFlags(app, &m);
  app.add_option("--valid_fraction", o->valid_fraction, "share of a segment's edges held out for early stopping");
  app.add_option("--split_seed", o->split_seed, "seed of the train/valid hash split");
  // security (tokens may also come from the environment, keeping them out of `ps`)
  app.add_option("--auth_token", o->auth_token, "every RPC needs `authorization: Bearer <token>` (empty: off)")
      ->envname("GPT4REC_AUTH_TOKEN");
  app.add_option("--admin_token", o->admin_token,
                 "CloseSegment/DeleteUser/Snapshot need `authorization: Bearer <admin token>` (empty: off)")
      ->envname("GPT4REC_ADMIN_TOKEN");
  app.add_option("--tls_cert", o->tls_cert, "PEM certificate chain (with --tls_key: serve TLS)");
  app.add_option("--tls_key", o->tls_key, "PEM private key");
  // process
  app.add_option("--log_level", p->log_level, "trace | debug | info | warn | error");
}

absl::Status FinishServerFlags(const ProcessFlags&, ServerOptions* o) {
  if (o->max_k == 0) return absl::InvalidArgumentError("--max_k: must be >= 1");
  if (o->max_batch < 1) return absl::InvalidArgumentError("--max_batch: must be >= 1");
  if (o->scoring_threads < 1) return absl::InvalidArgumentError("--scoring_threads: must be >= 1");
  if (o->max_queue_ms < 0) return absl::InvalidArgumentError("--max_queue_ms: must be >= 0");
  if (o->max_inflight_ingest < 1) return absl::InvalidArgumentError("--max_inflight_ingest: must be >= 1");
  if (!o->log.empty() && o->trainer_lease_ms < 100)
    return absl::InvalidArgumentError("--trainer_lease_ms: at least 100");
  if (!o->log.empty() && (o->log_replicas < 1 || o->log_replicas > 5))
    return absl::InvalidArgumentError("--log_replicas: must be in 1..5 (JetStream's limit)");
  if (o->online_window_s < 1) return absl::InvalidArgumentError("--online_window_s: must be >= 1");
  if (o->online_max_users > (uint64_t{1} << 31))
    return absl::InvalidArgumentError("--online_max_users: at most 2147483648");
  if (o->max_min_sequence_wait_ms < 0) return absl::InvalidArgumentError("--max_min_sequence_wait_ms: must be >= 0");
  if (o->valid_fraction < 0 || o->valid_fraction >= 1) {
    return absl::InvalidArgumentError("--valid_fraction: must be in [0, 1)");
  }
  return absl::OkStatus();
}

}  // namespace gpt4rec::server
