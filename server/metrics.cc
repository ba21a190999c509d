#include "server/metrics.h"

namespace gpt4rec::server {
namespace {

prometheus::Counter* AddCounter(prometheus::Registry& r, const std::string& name, const std::string& help,
                                const prometheus::Labels& labels = {}) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add(labels);
}
prometheus::Gauge* AddGauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

Metrics::Metrics() : registry(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry;
  ingest_events = AddCounter(r, "gpt4rec_ingest_events_total", "Events newly stored");
  ingest_duplicates = AddCounter(r, "gpt4rec_ingest_duplicates_total", "Events skipped as duplicate event_id");
  ingest_batches = AddCounter(r, "gpt4rec_ingest_batches_total", "Ingest batches acknowledged");
  auto& rejected = prometheus::BuildCounter()
                       .Name("gpt4rec_ingest_rejected_batches_total")
                       .Help("Ingest batches rejected, by reason")
                       .Register(r);
  ingest_invalid = &rejected.Add({{"reason", "invalid_argument"}});
  ingest_overloaded = &rejected.Add({{"reason", "resource_exhausted"}});
  ingest_storage_refused = &rejected.Add({{"reason", "storage_refused"}});
  storage_writable = AddGauge(r, "gpt4rec_storage_writable",
                              "1 while the graph store accepts writes; 0 while it refuses them (disk full, write "
                              "error): Ingest answers RESOURCE_EXHAUSTED or UNAVAILABLE, Recommend keeps serving");
  storage_writable->Set(1);
  ingest_log_unavailable = &rejected.Add({{"reason", "log_unavailable"}});
  log_applied_sequence = AddGauge(r, "gpt4rec_log_applied_sequence",
                                  "Cluster mode: sequence of the last event-log entry applied to this replica");
  log_lag = AddGauge(r, "gpt4rec_log_lag_entries",
                     "Cluster mode: entries in the event log this replica has not applied yet");
  log_connected = AddGauge(r, "gpt4rec_log_connected", "Cluster mode: 1 while connected to NATS");
  ingest_latency = &prometheus::BuildHistogram()
                        .Name("gpt4rec_ingest_batch_seconds")
                        .Help("Time from receiving an ingest batch to its acknowledgement")
                        .Register(r)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                         0.05, 0.1, 0.25, 0.5, 1});
  auto& recs = prometheus::BuildCounter()
                   .Name("gpt4rec_recommendations_total")
                   .Help("Recommend replies, by source of the user representation")
                   .Register(r);
  recommend_model = &recs.Add({{"source", "model"}});
  recommend_fold_in = &recs.Add({{"source", "fold_in"}});
  recommend_popular = &recs.Add({{"source", "popular"}});
  recommend_overloaded = AddCounter(r, "gpt4rec_recommend_rejected_total",
                                    "Recommend requests rejected with RESOURCE_EXHAUSTED");
  recommend_latency = &prometheus::BuildHistogram()
                           .Name("gpt4rec_recommend_seconds")
                           .Help("Recommend latency inside the server")
                           .Register(r)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01,
                                                                            0.02, 0.05, 0.1, 0.25, 1});
  model_version = AddGauge(r, "gpt4rec_model_version", "Version of the serving model (0: none yet)");
  training_queue = AddGauge(r, "gpt4rec_training_queue", "Closed segments waiting for training, incl. running");
  training_running = AddGauge(r, "gpt4rec_training_running", "1 while a segment trains");
  training_epoch = AddGauge(r, "gpt4rec_training_epoch", "Epoch of the running (or last) training");
  last_training_seconds = AddGauge(r, "gpt4rec_last_training_seconds", "Duration of the last training");
  last_training_loss = AddGauge(r, "gpt4rec_last_training_loss", "Final loss of the last training");
  last_training_recall20 = AddGauge(r, "gpt4rec_last_training_valid_recall20",
                                    "Best validation Recall@20 of the last training");
  trainings = AddCounter(r, "gpt4rec_trainings_total", "Segments trained since start");
  online_events = AddCounter(r, "gpt4rec_online_events_total",
                             "Ingested events of users served a list within --online_window_s (counted before "
                             "the event is applied)");
  auto& hits = prometheus::BuildCounter()
                   .Name("gpt4rec_online_hits_total")
                   .Help("Of gpt4rec_online_events_total: the event's item was among the first k items of the "
                         "list last served to the user")
                   .Register(r);
  online_hits_at_10 = &hits.Add({{"k", "10"}});
  online_hits_at_20 = &hits.Add({{"k", "20"}});
  online_tracked_users = AddGauge(r, "gpt4rec_online_tracked_users",
                                  "Last served lists held for the online hit rate (at most --online_max_users)");
  online_hit_rate = &prometheus::BuildGauge()
                         .Name("gpt4rec_online_hit_rate")
                         .Help("Online (test-then-learn) hit rate at k of the lists served by a model version: "
                               "hits / events since start, the last 16 versions")
                         .Register(r);
}

}  // namespace gpt4rec::server
