// Prometheus metrics of the service (exposed on --metrics_port at /metrics).
#pragma once

#include <memory>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace gpt4rec::server {

struct Metrics {
  Metrics();

  std::shared_ptr<prometheus::Registry> registry;
  // Ingest
  prometheus::Counter* ingest_events = nullptr;      // newly stored
  prometheus::Counter* ingest_duplicates = nullptr;  // skipped on event_id
  prometheus::Counter* ingest_batches = nullptr;
  prometheus::Counter* ingest_invalid = nullptr;     // batches rejected with INVALID_ARGUMENT
  prometheus::Counter* ingest_overloaded = nullptr;  // batches rejected with RESOURCE_EXHAUSTED
  prometheus::Histogram* ingest_latency = nullptr;   // seconds per batch
  prometheus::Counter* ingest_storage_refused = nullptr;  // batches storage refused (disk full, write error)
  prometheus::Gauge* storage_writable = nullptr;     // 1 while storage accepts writes, 0 while disk full
  // Cluster mode
  prometheus::Counter* ingest_log_unavailable = nullptr;  // writes refused: the log did not acknowledge them
  prometheus::Gauge* log_applied_sequence = nullptr;  // last log entry applied here
  prometheus::Gauge* log_lag = nullptr;               // entries in the stream not yet applied here
  prometheus::Gauge* log_connected = nullptr;         // 1 while connected to NATS
  // Recommend
  prometheus::Counter* recommend_model = nullptr;    // replies by source
  prometheus::Counter* recommend_fold_in = nullptr;
  prometheus::Counter* recommend_popular = nullptr;
  prometheus::Counter* recommend_overloaded = nullptr;
  prometheus::Histogram* recommend_latency = nullptr;  // seconds
  // Training
  prometheus::Gauge* model_version = nullptr;
  prometheus::Gauge* training_queue = nullptr;
  prometheus::Gauge* training_running = nullptr;
  prometheus::Gauge* training_epoch = nullptr;
  prometheus::Gauge* last_training_seconds = nullptr;
  prometheus::Gauge* last_training_loss = nullptr;
  prometheus::Gauge* last_training_recall20 = nullptr;
  prometheus::Counter* trainings = nullptr;
  // Online (prequential) quality, server/online_hit_rate.h
  prometheus::Counter* online_events = nullptr;      // events of users served a list within the window
  prometheus::Counter* online_hits_at_10 = nullptr;  // ... whose item was in the first 10 served items
  prometheus::Counter* online_hits_at_20 = nullptr;
  prometheus::Gauge* online_tracked_users = nullptr;  // last served lists held (<= --online_max_users)
  prometheus::Family<prometheus::Gauge>* online_hit_rate = nullptr;  // {k, model_version}
};

}  // namespace gpt4rec::server
