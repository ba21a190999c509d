// gpt4rec-bench cluster: durable ingest through cluster mode against the limit of the same NATS cluster.
//
// Against running replicas (scripts/cluster-bench.sh starts a 3-node NATS cluster and 3 replicas on 127.0.0.1):
//   1. durable ingest: --threads clients send --events events in batches of --batch to the replicas in turn
//      (each reply comes after JetStream's replicated ack and the replica's own apply); events/s;
//   2. the limit: the same client publishes the same request bytes straight to a JetStream stream of the same
//      replication (--raw_stream), with the same number of threads; events/s, and the ratio of the two;
//   3. apply lag: a poller reads every replica's applied sequence every --poll_ms; for each acknowledged batch,
//      the time from its ack until each replica had applied it (p50 / p99 over batches x replicas).
//   4. model propagation: --model_rounds times, a few new events and CloseSegment on one replica (in turn); the
//      trainer (the lease holder) trains the segment and moves the model head in <--stream>_MODEL; the bench
//      watches the head (kvStore_Watch, as the followers do) and, from the moment it sees the new version, polls
//      every replica's GetStats.model_version every --poll_ms until each serves it: per replica and round, the
//      delay from the head's move (as seen by this client, itself a NATS watcher) to serving. p50/p99 over
//      rounds x replicas, and the p99 over rounds of the slowest replica ("every replica serving").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "CLI/CLI.hpp"
#include "bench/bench_registry.h"
#include "cluster/event_log.h"
#include "cluster/model_channel.h"
#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

namespace gpt4rec::bench {
namespace {

namespace v1 = gpt4rec::v1;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::vector<std::string> replicas;
  std::string nats;
  int events = 200000;
  int batch = 500;
  int threads = 4;
  int replication = 3;
  int poll_ms = 5;
  std::string raw_stream = "GPT4REC_BENCH_RAW";
  std::string stream = "GPT4REC_BENCH";  // the replicas' --log_stream (its _MODEL bucket holds the head)
  int model_rounds = 3;
  int model_timeout_s = 600;
};

// false: print the error (or --help) and exit with `*exit_code`.
bool ParseFlags(int argc, char** argv, Flags* f, int* exit_code) {
  CLI::App app{"gpt4rec-bench cluster: durable Ingest through running cluster-mode replicas against raw JetStream "
               "publishes of the same bytes (scripts/cluster-bench.sh starts 3 NATS nodes and 3 replicas). Last "
               "stdout line: one JSON object with ingest_events_per_s, raw_publish_events_per_s, ratio, apply lag."};
  app.name("gpt4rec-bench cluster");
  std::string replicas;
  app.add_option("--replicas", replicas, "the replicas' gRPC addresses, HOST:PORT,...")->required();
  app.add_option("--nats", f->nats, "the NATS servers, nats://HOST:PORT,...")->required();
  app.add_option("--events", f->events, "events to ingest")->capture_default_str();
  app.add_option("--batch", f->batch, "events per Ingest request")->capture_default_str();
  app.add_option("--threads", f->threads, "concurrent clients (both phases)")->capture_default_str();
  app.add_option("--replication", f->replication, "replication of the raw stream (the replicas' --log_replicas)")
      ->capture_default_str();
  app.add_option("--poll_ms", f->poll_ms, "how often every replica's applied sequence is read")->capture_default_str();
  app.add_option("--raw_stream", f->raw_stream, "stream of the raw publishes")->capture_default_str();
  app.add_option("--stream", f->stream, "the replicas' --log_stream")->capture_default_str();
  app.add_option("--model_rounds", f->model_rounds, "segments closed and trained for the propagation delay (0: skip)")
      ->capture_default_str();
  app.add_option("--model_timeout_s", f->model_timeout_s, "longest wait for one round's model")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  for (absl::string_view r : absl::StrSplit(replicas, ',', absl::SkipEmpty())) f->replicas.emplace_back(r.data(), r.size());
  if (f->replicas.empty() || f->events <= 0 || f->batch <= 0 || f->threads <= 0) {
    std::fprintf(stderr, "cluster bench: --replicas, --events, --batch and --threads must be non-empty / positive\n");
    *exit_code = 2;
    return false;
  }
  return true;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

// Runs `work(batch index)` on `threads` threads until every batch is done; returns the seconds it took.
template <typename Work>
double RunBatches(int batches, int threads, Work work) {
  std::atomic<int> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int b; (b = next.fetch_add(1)) < batches;) work(t, b);
    });
  }
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int RunClusterBench(int argc, char** argv) {
  Flags f;
  int exit_code = 0;
  if (!ParseFlags(argc, argv, &f, &exit_code)) return exit_code;
  const int batches = (f.events + f.batch - 1) / f.batch;
  // Unique event ids per run, so a rerun against the same stores is not all duplicates.
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::vector<std::string> requests(batches);
  for (int b = 0; b < batches; ++b) {
    v1::IngestRequest req;
    for (int i = 0; i < f.batch; ++i) {
      auto* e = req.add_events();
      const uint64_t k = static_cast<uint64_t>(b) * f.batch + i;
      e->set_user_id("u" + std::to_string((k * 2654435761u) % 20000));
      e->set_item_id("i" + std::to_string((k * 40503u) % 5000));
      e->set_timestamp(1700000000 + static_cast<int64_t>(k / 100));
      e->set_event_id(run + "-" + std::to_string(k));
    }
    requests[b] = req.SerializeAsString();
  }
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  for (const auto& r : f.replicas)
    stubs.push_back(v1::Recommender::NewStub(grpc::CreateChannel(r, grpc::InsecureChannelCredentials())));

  // Poller: (time, applied sequence) per replica.
  struct Sample {
    Clock::time_point at;
    uint64_t applied;
  };
  std::vector<std::vector<Sample>> samples(stubs.size());
  std::atomic<bool> polling{true};
  std::thread poller([&] {
    while (polling.load()) {
      for (size_t r = 0; r < stubs.size(); ++r) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        v1::GetStatsReply rep;
        if (stubs[r]->GetStats(&ctx, v1::GetStatsRequest(), &rep).ok())
          samples[r].push_back({Clock::now(), rep.applied_sequence()});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(f.poll_ms));  // sampling period, not synchronisation
    }
  });

  std::vector<std::pair<uint64_t, Clock::time_point>> acks(batches);
  std::atomic<int> failed{0};
  const double ingest_s = RunBatches(batches, f.threads, [&](int t, int b) {
    v1::IngestRequest req;
    req.ParseFromString(requests[b]);
    for (int attempt = 0; attempt < 5; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::IngestReply rep;
      if (stubs[(b + t + attempt) % stubs.size()]->Ingest(&ctx, req, &rep).ok()) {
        acks[b] = {rep.log_sequence(), Clock::now()};
        return;
      }
    }
    failed.fetch_add(1);
  });
  // Let every replica apply the last batch before the poller stops.
  uint64_t last = 0;
  for (const auto& a : acks) last = std::max(last, a.first);
  for (auto deadline = Clock::now() + std::chrono::seconds(60); Clock::now() < deadline;) {
    bool all = true;
    for (size_t r = 0; r < stubs.size(); ++r) {
      grpc::ClientContext ctx;
      v1::GetStatsReply rep;
      all = all && stubs[r]->GetStats(&ctx, v1::GetStatsRequest(), &rep).ok() && rep.applied_sequence() >= last;
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  polling = false;
  poller.join();

  auto servers = cluster::ParseServers(f.nats);
  if (!servers.ok()) {
    std::fprintf(stderr, "cluster bench: %s\n", servers.status().ToString().c_str());
    return 2;
  }

  // Model propagation: head moved (seen here) -> each replica serves that version.
  std::vector<double> propagation_ms, slowest_ms;
  int model_failed = 0;
  if (f.model_rounds > 0) {
    cluster::ModelChannelOptions mo;
    mo.log.servers = *servers;
    mo.log.stream = f.stream;
    mo.log.replicas = f.replication;
    mo.log.client_name = "gpt4rec-bench-model";
    mo.holder = "gpt4rec-bench-observer";  // never takes the lease: it only reads and watches the head
    auto channel = cluster::ModelChannel::Open(mo);
    if (!channel.ok()) {
      std::fprintf(stderr, "cluster bench: model channel: %s\n", channel.status().ToString().c_str());
      return 1;
    }
    for (int round = 0; round < f.model_rounds; ++round) {
      auto before = (*channel)->Head();
      const uint64_t old_version = before.ok() ? before->version : 0;
      v1::IngestRequest req;
      for (int i = 0; i < 50; ++i) {
        auto* e = req.add_events();
        e->set_user_id("u" + std::to_string(i * 37 % 20000));
        e->set_item_id("i" + std::to_string((round * 50 + i) % 5000));
        e->set_timestamp(1700000000);
        e->set_event_id(run + "-model-" + std::to_string(round) + "-" + std::to_string(i));
      }
      auto& stub = stubs[round % stubs.size()];
      grpc::ClientContext ictx;
      v1::IngestReply ing;
      grpc::ClientContext cctx;
      v1::CloseSegmentReply closed;
      if (!stub->Ingest(&ictx, req, &ing).ok() ||
          !stub->CloseSegment(&cctx, v1::CloseSegmentRequest(), &closed).ok()) {
        ++model_failed;
        continue;
      }
      const auto deadline = Clock::now() + std::chrono::seconds(f.model_timeout_s);
      uint64_t version = 0;
      while (Clock::now() < deadline) {
        auto head = (*channel)->Head();
        if (head.ok() && head->version > old_version) {
          version = head->version;
          break;
        }
        (*channel)->WaitForHeadChange(200);
      }
      const auto published = Clock::now();
      if (version == 0) {
        ++model_failed;
        continue;
      }
      std::vector<double> delay(stubs.size(), -1);
      size_t serving = 0;
      while (serving < stubs.size() && Clock::now() < deadline) {
        for (size_t r = 0; r < stubs.size(); ++r) {
          if (delay[r] >= 0) continue;
          grpc::ClientContext ctx;
          v1::GetStatsReply rep;
          if (stubs[r]->GetStats(&ctx, v1::GetStatsRequest(), &rep).ok() && rep.model_version() >= version) {
            delay[r] = std::chrono::duration<double, std::milli>(Clock::now() - published).count();
            ++serving;
          }
        }
        if (serving < stubs.size()) std::this_thread::sleep_for(std::chrono::milliseconds(f.poll_ms));  // sampling
      }
      if (serving < stubs.size()) ++model_failed;
      double slowest = 0;
      for (double d : delay) {
        if (d < 0) continue;
        propagation_ms.push_back(d);
        slowest = std::max(slowest, d);
      }
      slowest_ms.push_back(slowest);
      std::fprintf(stderr, "cluster bench: model version %llu: slowest replica serving %.1f ms after the head moved\n",
                   static_cast<unsigned long long>(version), slowest);
    }
  }

  // The limit: the same bytes, straight to a JetStream stream of the same replication, from this client.
  cluster::LogOptions raw;
  raw.servers = *servers;
  raw.stream = f.raw_stream;
  raw.replicas = f.replication;
  raw.client_name = "gpt4rec-bench";
  auto log = cluster::EventLog::Open(raw);
  if (!log.ok()) {
    std::fprintf(stderr, "cluster bench: %s\n", log.status().ToString().c_str());
    return 1;
  }
  std::atomic<int> raw_failed{0};
  const double raw_s = RunBatches(batches, f.threads, [&](int, int b) {
    if (!(*log)->Publish(requests[b], run + "-raw-" + std::to_string(b)).ok()) raw_failed.fetch_add(1);
  });

  std::vector<double> lags_ms;
  for (const auto& [seq, acked] : acks) {
    if (seq == 0) continue;
    for (const auto& series : samples) {
      auto it = std::find_if(series.begin(), series.end(), [&](const Sample& s) { return s.applied >= seq; });
      if (it == series.end()) continue;
      lags_ms.push_back(std::max(0.0, std::chrono::duration<double, std::milli>(it->at - acked).count()));
    }
  }
  const double events = static_cast<double>(batches) * f.batch;
  nlohmann::json out = {
      {"bench", "cluster"},
      {"replicas", f.replicas.size()},
      {"replication", f.replication},
      {"events", events},
      {"batch", f.batch},
      {"threads", f.threads},
      {"ingest_events_per_s", events / ingest_s},
      {"ingest_failed_batches", failed.load()},
      {"raw_publish_events_per_s", events / raw_s},
      {"raw_failed_batches", raw_failed.load()},
      {"ratio", raw_s / ingest_s},
      {"apply_lag_ms_p50", Percentile(lags_ms, 0.5)},
      {"apply_lag_ms_p99", Percentile(lags_ms, 0.99)},
      {"apply_lag_poll_ms", f.poll_ms},
      {"model_rounds", f.model_rounds},
      {"model_failed_rounds", model_failed},
      {"model_propagation_ms_p50", Percentile(propagation_ms, 0.5)},
      {"model_propagation_ms_p99", Percentile(propagation_ms, 0.99)},
      {"model_propagation_every_replica_ms_p99", Percentile(slowest_ms, 0.99)},
  };
  std::printf("%s\n", out.dump().c_str());
  return failed.load() == 0 && raw_failed.load() == 0 && model_failed == 0 ? 0 : 1;
}

Registration reg("cluster",
                 "cluster mode: durable ingest events/s through the replicas vs raw JetStream publishes, apply lag, model "
                 "propagation delay",
                 &RunClusterBench);

}  // namespace
}  // namespace gpt4rec::bench
