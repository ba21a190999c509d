// gpt4rec-bench serve: a real gpt4rec server and concurrent gRPC clients on loopback.
//   1. ingest: --events over --streams concurrent IngestStreams (batches of --batch), events/s until the last ack;
//   2. recommend: a SYNTHETIC model (random d-dim vectors for every stored user and item, installed through
//      server::test_support::InstallModel — no training, so the figure is pure serving) over --items items; --clients
//      concurrent clients ask top-k for random known users for --seconds; throughput and latency p50/p99;
//   3. freshness: a new user's event is acknowledged, then Recommend is polled until it answers FOLD_IN;
//   4. the physical limit, in the same run: the time to stream the item matrix once from memory; a per-request
//      scan cannot beat (cores / that time) requests/s -> scan_limit_qps;
//   5. --untrained_items=N: N more items arrive, and the same Recommend phase runs twice over the same item count:
//      every item trained, then the model re-installed without the last N (they are folded in as untrained
//      items) -> untrained_qps / untrained_p99 against all_trained_qps / all_trained_p99 (goal >= 0.8x);
//   5b. explain (--explain_rounds, 0 skips it): rounds of the phase of 3 without and then with
//      RecommendRequest.explain, back to back, each mode's latencies pooled over the rounds (so a change of load
//      on a shared machine hits both alike) -> explain_p50_vs_plain / explain_p99_vs_plain (goal <= 2x);
//   6. --overload=F: an open-loop client offers F x the measured capacity for --seconds; p99 of the ACCEPTED
//      requests and the share shed (run once with the server's default --max_queue_ms and once with
//      --max_queue_ms=0, the count bound only, to see what shedding by time buys).
// Client and server share this machine's cores, so every figure includes the clients' own gRPC cost.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sys/resource.h>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "CLI/CLI.hpp"
#include "bench/bench_registry.h"
#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "server/service.h"
#include "server/test_support.h"

namespace {
namespace v1 = gpt4rec::v1;
using Clock = std::chrono::steady_clock;

struct Flags {
  uint64_t events = 1000000;
  int batch = 5000;
  int streams = 2;
  int items = 100000;
  int users = 50000;
  int dim = 64;
  int k = 20;
  int clients = 16;
  double seconds = 5;
  int scoring_threads = 2;
  int max_batch = 32;
  int batch_window_us = 0;
  int freshness_probes = 200;
  int untrained_items = 0;
  double overload = 0;
  int overload_channels = 16;
  int explain_rounds = 2;
  int max_queue_ms = gpt4rec::server::ServerOptions().max_queue_ms;
  size_t max_pending_recommend = gpt4rec::server::ServerOptions().max_pending_recommend;
};

// false: print the error (or --help) and exit with `*exit_code`.
bool ParseFlags(int argc, char** argv, Flags* f, int* exit_code) {
  CLI::App app{"gpt4rec-bench serve: a gRPC server on loopback with a synthetic model installed; ingest events/s, "
               "Recommend qps and p50/p99, freshness (ack -> fold-in) and the per-request scan limit. Last stdout "
               "line: one JSON object."};
  app.name("gpt4rec-bench serve");
  app.add_option("--events", f->events, "events ingested for the ingest rate")->capture_default_str();
  app.add_option("--batch", f->batch, "events per ingest request")->capture_default_str();
  app.add_option("--streams", f->streams, "concurrent IngestStream clients")->capture_default_str();
  app.add_option("--items", f->items, "items of the synthetic model")->capture_default_str();
  app.add_option("--users", f->users, "users of the synthetic model")->capture_default_str();
  app.add_option("--dim", f->dim, "embedding dimension of the synthetic model")->capture_default_str();
  app.add_option("--k", f->k, "top-k per Recommend")->capture_default_str();
  app.add_option("--clients", f->clients, "concurrent Recommend clients")->capture_default_str();
  app.add_option("--seconds", f->seconds, "duration of the Recommend phase")->capture_default_str();
  app.add_option("--scoring_threads", f->scoring_threads, "server --scoring_threads")->capture_default_str();
  app.add_option("--max_batch", f->max_batch, "server --max_batch")->capture_default_str();
  app.add_option("--batch_window_us", f->batch_window_us, "server --batch_window_us")->capture_default_str();
  app.add_option("--freshness_probes", f->freshness_probes, "ack -> fold-in probes")->capture_default_str();
  app.add_option("--untrained_items", f->untrained_items,
                 "extra items that arrive after the model: Recommend all-trained vs with them untrained (0: skip)")
      ->capture_default_str();
  app.add_option("--explain_rounds", f->explain_rounds,
                 "rounds of the Recommend phase without, then with explain=true, to compare (0: skip)")
      ->capture_default_str();
  app.add_option("--overload", f->overload, "offer this many times the measured capacity, open loop (0: skip)")
      ->capture_default_str();
  app.add_option("--overload_channels", f->overload_channels,
                 "connections the open-loop client spreads its requests over (many producers, not one)")
      ->capture_default_str();
  app.add_option("--max_queue_ms", f->max_queue_ms, "server --max_queue_ms (0: count bound only)")
      ->capture_default_str();
  app.add_option("--max_pending_recommend", f->max_pending_recommend, "server --max_pending_recommend")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  return true;
}

// CPU seconds used by this process (server and clients) so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// A Recommend's time inside the server's micro-batcher (server/micro_batcher.h): waiting in its queue, then its
// scoring pass; the client's latency minus these is gRPC (both ends, on loopback) and the handler.
struct BatcherSplit {
  double wait_p50 = 0, wait_p99 = 0, pass_p50 = 0, pass_p99 = 0, sojourn_p99 = 0, mean_batch = 0;
};

BatcherSplit Split(const std::vector<gpt4rec::server::MicroBatcher::RequestTiming>& timings) {
  BatcherSplit split;
  if (timings.empty()) return split;
  std::vector<double> wait, pass, sojourn;
  double batch = 0;
  for (const auto& t : timings) {
    wait.push_back(t.wait_ms);
    pass.push_back(t.pass_ms);
    sojourn.push_back(t.wait_ms + t.pass_ms);
    batch += t.batch;
  }
  split.wait_p50 = Percentile(wait, 0.5);
  split.wait_p99 = Percentile(wait, 0.99);
  split.pass_p50 = Percentile(pass, 0.5);
  split.pass_p99 = Percentile(pass, 0.99);
  split.sojourn_p99 = Percentile(sojourn, 0.99);
  split.mean_batch = batch / timings.size();  // per request: the size of the pass it was scored in
  return split;
}

std::shared_ptr<grpc::Channel> Channel(int port, int id) {
  grpc::ChannelArguments args;
  args.SetInt("bench.channel_id", id);  // distinct args: a separate connection per client
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
}

// Every item appears at least once (ids are dense in arrival order), users are random.
double RunIngest(int port, const Flags& f) {
  const uint64_t nbatches = (f.events + f.batch - 1) / f.batch;
  std::vector<v1::IngestRequest> batches(nbatches);
  std::mt19937_64 rng(1);
  for (uint64_t b = 0; b < nbatches; ++b) {
    for (int i = 0; i < f.batch && b * f.batch + i < f.events; ++i) {
      const uint64_t n = b * f.batch + i;
      auto* e = batches[b].add_events();
      e->set_user_id("u" + std::to_string(rng() % f.users));
      e->set_item_id("i" + std::to_string(n < static_cast<uint64_t>(f.items) ? n : rng() % f.items));
      e->set_timestamp(1000000 + static_cast<int64_t>(n / 100));
    }
  }
  std::fprintf(stderr, "serve bench: ingesting %llu events in %llu batches over %d streams\n",
               static_cast<unsigned long long>(f.events), static_cast<unsigned long long>(nbatches), f.streams);
  std::atomic<uint64_t> acked{0};
  std::atomic<int> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < f.streams; ++s) {
    threads.emplace_back([&, s] {
      auto stub = v1::Recommender::NewStub(Channel(port, s));
      grpc::ClientContext ctx;
      auto stream = stub->IngestStream(&ctx);
      std::thread reader([&] {
        v1::IngestReply r;
        while (stream->Read(&r)) acked += r.accepted();
      });
      for (uint64_t b = s; b < nbatches; b += f.streams) {
        if (!stream->Write(batches[b])) break;
      }
      stream->WritesDone();
      reader.join();
      if (!stream->Finish().ok()) ++failed;
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed > 0 || acked != f.events) {
    std::fprintf(stderr, "serve bench: ingest incomplete: %llu of %llu acked, %d streams failed\n",
                 static_cast<unsigned long long>(acked.load()), static_cast<unsigned long long>(f.events),
                 failed.load());
  }
  return acked / seconds;
}

// Time to read the item matrix once (best of several passes), one core.
double ScanMs(int items, int dim) {
  std::vector<float> m(static_cast<size_t>(items) * dim);
  std::mt19937 rng(3);
  for (auto& x : m) x = static_cast<float>(rng() % 1000) * 1e-3f;
  volatile float sink = 0;
  double best = 1e9;
  for (int rep = 0; rep < 20; ++rep) {
    const auto t0 = Clock::now();
    float acc[16] = {0};
    for (size_t i = 0; i < m.size(); i += 16) {
      for (int j = 0; j < 16; ++j) acc[j] += m[i + j];
    }
    float s = 0;
    for (float a : acc) s += a;
    sink = sink + s;
    best = std::min(best, Ms(Clock::now() - t0));
  }
  return best;
}

struct RecommendRun {
  std::vector<double> latencies;
  BatcherSplit split;  // over the measured seconds, when the server was given
  double qps = 0, p50 = 0, p99 = 0, cpu_s = 0, measured_s = 0;
  uint64_t errors = 0, wrong_source = 0;
};

// --clients closed-loop clients asking top-k for random known users for --seconds (after a 1 s warm-up);
// `explain`: with RecommendRequest.explain (a reply without its explanation counts as wrong).
// `server`: also split the measured requests' time in the batcher (its timings recorded over the same seconds).
RecommendRun RunRecommend(int port, const Flags& f, bool explain = false,
                          gpt4rec::server::Server* server = nullptr) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::vector<double>> latencies(f.clients);
  std::atomic<uint64_t> errors{0}, wrong_source{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < f.clients; ++c) {
    clients.emplace_back([&, c] {
      auto own = v1::Recommender::NewStub(Channel(port, 2000 + c));
      std::mt19937 r(100 + c);
      while (!stop) {
        v1::RecommendRequest req;
        req.set_user_id("u" + std::to_string(r() % f.users));
        req.set_k(f.k);
        req.set_explain(explain);
        v1::RecommendReply rep;
        grpc::ClientContext ctx;
        const auto t0 = Clock::now();
        grpc::Status s = own->Recommend(&ctx, req, &rep);
        const double ms = Ms(Clock::now() - t0);
        if (!measuring) continue;
        if (!s.ok()) {
          ++errors;
          continue;
        }
        if (rep.source() != v1::MODEL || rep.items_size() != f.k ||
            (explain && rep.explanation().items_size() != f.k)) {
          ++wrong_source;
        }
        latencies[c].push_back(ms);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // warm-up
  if (server) gpt4rec::server::test_support::RecordBatcherTimings(*server, true);
  measuring = true;
  const auto m0 = Clock::now();
  const double cpu0 = CpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(f.seconds * 1000)));
  measuring = false;
  RecommendRun run;
  if (server) {
    gpt4rec::server::test_support::RecordBatcherTimings(*server, false);
    run.split = Split(gpt4rec::server::test_support::TakeBatcherTimings(*server));
  }
  run.cpu_s = CpuSeconds() - cpu0;
  const double measured_s = std::chrono::duration<double>(Clock::now() - m0).count();
  run.measured_s = measured_s;
  stop = true;
  for (auto& t : clients) t.join();
  for (auto& v : latencies) run.latencies.insert(run.latencies.end(), v.begin(), v.end());
  run.qps = run.latencies.size() / measured_s;
  run.p50 = Percentile(run.latencies, 0.50);
  run.p99 = Percentile(run.latencies, 0.99);
  run.errors = errors;
  run.wrong_source = wrong_source;
  return run;
}

struct OverloadRun {
  double offered_qps = 0, accepted_qps = 0, accepted_p50 = 0, accepted_p99 = 0, shed_share = 0;
  uint64_t other_errors = 0;
  BatcherSplit split;
};

// Open loop: requests sent at `rate` per second for --seconds whatever the replies (callback API, no deadline,
// as a careless client would), each timed from its send to its reply.
OverloadRun RunOverload(int port, const Flags& f, double rate, gpt4rec::server::Server& server) {
  // One connection is read by one transport thread on each side: offered 4x the capacity over a single one, the
  // backlog forms in its socket before the server sees a request (nothing it can shed). Many producers open
  // many connections; the requests go round robin over --overload_channels of them.
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  for (int c = 0; c < std::max(1, f.overload_channels); ++c) stubs.push_back(v1::Recommender::NewStub(Channel(port, 5000 + c)));
  struct Call {
    grpc::ClientContext ctx;
    v1::RecommendRequest req;
    v1::RecommendReply rep;
    Clock::time_point sent;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> accepted;
  uint64_t shed = 0, other = 0, done = 0, sent = 0;
  std::mt19937 r(77);
  gpt4rec::server::test_support::TakeBatcherTimings(server);
  gpt4rec::server::test_support::RecordBatcherTimings(server, true);
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::milliseconds(static_cast<int>(f.seconds * 1000));
  const auto gap = std::chrono::duration<double>(1.0 / rate);
  auto next = t0;
  while (Clock::now() < end) {
    auto* call = new Call;
    call->req.set_user_id("u" + std::to_string(r() % f.users));
    call->req.set_k(f.k);
    call->sent = Clock::now();
    stubs[sent % stubs.size()]->async()->Recommend(&call->ctx, &call->req, &call->rep, [&, call](grpc::Status s) {
      const double ms = Ms(Clock::now() - call->sent);
      delete call;
      std::lock_guard<std::mutex> lock(mu);
      if (s.ok()) accepted.push_back(ms);
      else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++shed;
      else ++other;
      ++done;
      cv.notify_all();
    });
    ++sent;
    next += std::chrono::duration_cast<Clock::duration>(gap);
    if (next > Clock::now()) std::this_thread::sleep_until(next);
  }
  const double send_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == sent; });
  OverloadRun run;
  gpt4rec::server::test_support::RecordBatcherTimings(server, false);
  run.split = Split(gpt4rec::server::test_support::TakeBatcherTimings(server));
  run.offered_qps = sent / send_s;
  run.accepted_qps = accepted.size() / send_s;
  run.accepted_p50 = Percentile(accepted, 0.5);
  run.accepted_p99 = Percentile(accepted, 0.99);
  run.shed_share = sent > 0 ? static_cast<double>(shed) / sent : 0;
  run.other_errors = other;
  return run;
}

// Ingests `n` events, one per new item "n<j>", each from a random known user.
bool IngestNewItems(v1::Recommender::Stub* stub, const Flags& f, int n) {
  std::mt19937_64 rng(9);
  for (int b = 0; b < n; b += f.batch) {
    v1::IngestRequest req;
    for (int j = b; j < std::min(n, b + f.batch); ++j) {
      auto* e = req.add_events();
      e->set_user_id("u" + std::to_string(rng() % f.users));
      e->set_item_id("n" + std::to_string(j));
      e->set_timestamp(1500000);
    }
    v1::IngestReply rep;
    grpc::ClientContext ctx;
    if (!stub->Ingest(&ctx, req, &rep).ok()) return false;
  }
  return true;
}

// True once a Recommend ranks one of the new items (the refresh loop has folded them in).
bool WaitForNewItemsRanked(v1::Recommender::Stub* stub, const Flags& f) {
  const auto end = Clock::now() + std::chrono::seconds(60);
  std::mt19937 r(11);
  while (Clock::now() < end) {
    v1::RecommendRequest req;
    req.set_user_id("u" + std::to_string(r() % f.users));
    req.set_k(f.k);
    v1::RecommendReply rep;
    grpc::ClientContext ctx;
    if (stub->Recommend(&ctx, req, &rep).ok()) {
      for (const auto& item : rep.items()) {
        if (item.item_id()[0] == 'n') return true;
      }
    }
  }
  return false;
}

int RunServeBench(int argc, char** argv) {
  Flags f;
  if (int exit_code = 0; !ParseFlags(argc, argv, &f, &exit_code)) return exit_code;
  char templ[] = "/tmp/gpt4rec-serve-bench-XXXXXX";
  if (mkdtemp(templ) == nullptr) return 1;
  const std::string data_dir = templ;
  gpt4rec::server::ServerOptions options;
  options.addr = "127.0.0.1:0";
  options.data_dir = data_dir;
  options.scoring_threads = f.scoring_threads;
  options.max_batch = f.max_batch;
  options.batch_window_us = f.batch_window_us;
  options.max_events_per_request = std::max(10000, f.batch);
  options.max_queue_ms = f.max_queue_ms;
  options.max_pending_recommend = f.max_pending_recommend;
  options.refresh_ms = 100;
  auto server = gpt4rec::server::Server::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "serve bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const int port = (*server)->port();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  // 1. ingest
  const double ingest_eps = RunIngest(port, f);
  auto stub = v1::Recommender::NewStub(Channel(port, 1000));
  v1::GetStatsReply stats;
  {
    grpc::ClientContext ctx;
    if (!stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) return 1;
  }
  std::fprintf(stderr, "serve bench: ingest %.0f events/s; store: %llu users, %llu items, %llu edges\n", ingest_eps,
               static_cast<unsigned long long>(stats.users()), static_cast<unsigned long long>(stats.items()),
               static_cast<unsigned long long>(stats.edges()));

  if (f.untrained_items > 0) {
    if (!IngestNewItems(stub.get(), f, f.untrained_items)) return 1;
    grpc::ClientContext ctx;
    if (!stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) return 1;
  }

  // 2. synthetic model over every stored user and item
  gpt4rec::server::test_support::SyntheticModel model;
  model.dim = f.dim;
  model.num_users = static_cast<int32_t>(stats.users());
  model.num_items = static_cast<int32_t>(stats.items());
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  model.users.resize(static_cast<size_t>(model.num_users) * f.dim);
  model.items.resize(static_cast<size_t>(model.num_items) * f.dim);
  for (auto& x : model.users) x = normal(rng);
  for (auto& x : model.items) x = normal(rng);
  // The view prompt's weights, as a trained model exports them (explained replies report a user's row).
  model.views = options.model.views;
  model.user_view_weights.assign(static_cast<size_t>(model.num_users) * model.views, 1.0f / model.views);
  if (auto s = gpt4rec::server::test_support::InstallModel(**server, model, 1); !s.ok()) {
    std::fprintf(stderr, "serve bench: install model: %s\n", s.ToString().c_str());
    return 1;
  }

  // 3. recommend throughput / latency at fixed concurrency
  const RecommendRun run = RunRecommend(port, f, /*explain=*/false, server->get());
  const double qps = run.qps, p50 = run.p50, p99 = run.p99, cpu_s = run.cpu_s, measured_s = run.measured_s;
  const auto& all = run.latencies;
  const uint64_t errors = run.errors, wrong_source = run.wrong_source;

  // 4. freshness: ack of a new user's first event -> Recommend answers FOLD_IN
  std::vector<double> fresh;
  for (int i = 0; i < f.freshness_probes; ++i) {
    v1::IngestRequest req;
    auto* e = req.add_events();
    e->set_user_id("fresh" + std::to_string(i));
    e->set_item_id("i" + std::to_string((i * 7919) % f.items));
    e->set_timestamp(2000000);
    v1::IngestReply ing;
    grpc::ClientContext ictx;
    if (!stub->Ingest(&ictx, req, &ing).ok()) continue;
    const auto acked = Clock::now();
    for (int poll = 0; poll < 10000; ++poll) {
      v1::RecommendRequest rr;
      rr.set_user_id(e->user_id());
      rr.set_k(f.k);
      v1::RecommendReply rep;
      grpc::ClientContext rctx;
      if (stub->Recommend(&rctx, rr, &rep).ok() && rep.source() == v1::FOLD_IN) {
        fresh.push_back(Ms(Clock::now() - acked));
        break;
      }
    }
  }
  const double fresh_p99 = Percentile(fresh, 0.99);

  // 5. the same Recommend phase with the last --untrained_items items untrained (folded in by the refresh loop)
  RecommendRun untrained;
  if (f.untrained_items > 0) {
    auto partial = model;
    partial.num_items = model.num_items - f.untrained_items;
    partial.items.resize(static_cast<size_t>(partial.num_items) * f.dim);
    if (auto s = gpt4rec::server::test_support::InstallModel(**server, partial, 2); !s.ok()) return 1;
    if (!WaitForNewItemsRanked(stub.get(), f)) {
      std::fprintf(stderr, "serve bench: the untrained items were never ranked\n");
      return 1;
    }
    untrained = RunRecommend(port, f);
  }

  // 5b. the phase of 3 with explanations
  RecommendRun plain, explained;  // pooled over the rounds
  auto pool = [](RecommendRun* into, const RecommendRun& run) {
    into->latencies.insert(into->latencies.end(), run.latencies.begin(), run.latencies.end());
    into->measured_s += run.measured_s;
    into->errors += run.errors;
    into->wrong_source += run.wrong_source;
    into->qps = into->latencies.size() / into->measured_s;
    into->p50 = Percentile(into->latencies, 0.50);
    into->p99 = Percentile(into->latencies, 0.99);
  };
  for (int r = 0; r < f.explain_rounds; ++r) {
    pool(&plain, RunRecommend(port, f, /*explain=*/false));
    pool(&explained, RunRecommend(port, f, /*explain=*/true));
  }

  // 6. open-loop overload at --overload x the capacity measured in 3
  OverloadRun overload;
  if (f.overload > 0) overload = RunOverload(port, f, f.overload * qps, **server);

  // 7. the memory-bandwidth limit measured now, on this machine
  const double scan_ms = ScanMs(f.items, f.dim);
  const double scan_limit_qps = cores * 1000.0 / scan_ms;

  (*server)->Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(data_dir, ec);

  std::printf("serve benchmark (%u cores shared by server and clients)\n", cores);
  std::printf("  %-34s %12.0f events/s   (%llu events, %d streams, batches of %d; goal >= 1,000,000)\n",
              "ingest over IngestStream", ingest_eps, static_cast<unsigned long long>(f.events), f.streams, f.batch);
  std::printf("  %-34s %12.0f req/s      (%d clients, %d items, d=%d, top-%d; goal >= 5,000)\n",
              "recommend throughput", qps, f.clients, model.num_items, f.dim, f.k);
  std::printf("  %-34s %12.2f ms / %.2f ms (goal p99 <= 10 ms)\n", "recommend latency p50 / p99", p50, p99);
  // Other processes may share the cores: CPU time per request says what dedicated cores would sustain.
  const double cpu_ms_per_req = all.empty() ? 0 : cpu_s * 1000 / all.size();
  std::printf("  %-34s %12.3f ms CPU (server + clients) -> %.0f req/s if %u cores were ours alone\n",
              "recommend CPU per request", cpu_ms_per_req, cpu_ms_per_req > 0 ? cores * 1000 / cpu_ms_per_req : 0.0,
              cores);
  std::printf("  %-34s %12.2f of %u cores busy with this process during the run\n", "CPU share obtained",
              cpu_s / measured_s, cores);
  std::printf("  %-34s %12.3f ms per pass -> %.0f req/s on %u cores\n", "scan limit (item matrix once)", scan_ms,
              scan_limit_qps, cores);
  std::printf("  %-34s %12.2f x the per-request scan limit\n", "recommend / scan limit", qps / scan_limit_qps);
  std::printf("  %-34s %12.2f ms p99 (p50 %.2f ms, %zu probes; goal <= 100 ms)\n", "freshness ack -> fold-in",
              fresh_p99, Percentile(fresh, 0.5), fresh.size());
  if (f.untrained_items > 0) {
    std::printf("  %-34s %12.0f req/s, p99 %.2f ms (%d of %d items untrained; all trained: %.0f req/s, p99 %.2f "
                "ms) -> %.2fx qps (goal >= 0.8x)\n",
                "recommend with untrained items", untrained.qps, untrained.p99, f.untrained_items, model.num_items,
                qps, p99, qps > 0 ? untrained.qps / qps : 0.0);
  }
  if (f.explain_rounds > 0) {
    std::printf("  %-34s %12.0f req/s, p50 / p99 %.2f / %.2f ms; without, same rounds: %.0f req/s, %.2f / %.2f ms "
                "-> %.2fx / %.2fx (goal <= 2x; %d rounds, errors %llu / %llu)\n",
                "recommend with explain=true", explained.qps, explained.p50, explained.p99, plain.qps, plain.p50,
                plain.p99, plain.p50 > 0 ? explained.p50 / plain.p50 : 0.0,
                plain.p99 > 0 ? explained.p99 / plain.p99 : 0.0, f.explain_rounds,
                static_cast<unsigned long long>(explained.errors), static_cast<unsigned long long>(plain.errors));
  }
  if (f.overload > 0) {
    std::printf("  %-34s offered %.0f req/s (%.1fx %.0f), accepted %.0f req/s, p50 / p99 %.2f / %.2f ms, %.1f%% "
                "shed (--max_queue_ms=%d, --max_pending_recommend=%zu) -> p99 %.2fx the unloaded %.2f ms, "
                "goodput %.2fx the capacity\n",
                "recommend overload (open loop)", overload.offered_qps, f.overload, qps, overload.accepted_qps,
                overload.accepted_p50, overload.accepted_p99, 100 * overload.shed_share, f.max_queue_ms,
                f.max_pending_recommend, p99 > 0 ? overload.accepted_p99 / p99 : 0.0, p99,
                qps > 0 ? overload.accepted_qps / qps : 0.0);
    std::printf("  %-34s unloaded: wait p50 / p99 %.2f / %.2f ms, pass p50 / p99 %.2f / %.2f ms, wait + pass p99 "
                "%.2f ms, batch %.1f; overload: wait %.2f / %.2f ms, pass %.2f / %.2f ms, wait + pass p99 %.2f ms, "
                "batch %.1f\n",
                "  in the batcher (accepted)", run.split.wait_p50, run.split.wait_p99, run.split.pass_p50,
                run.split.pass_p99, run.split.sojourn_p99, run.split.mean_batch, overload.split.wait_p50,
                overload.split.wait_p99, overload.split.pass_p50, overload.split.pass_p99,
                overload.split.sojourn_p99, overload.split.mean_batch);
  }
  const uint64_t all_errors = errors + untrained.errors + plain.errors + explained.errors + overload.other_errors;
  const uint64_t all_wrong = wrong_source + untrained.wrong_source + plain.wrong_source + explained.wrong_source;
  if (all_errors > 0 || all_wrong > 0) {
    std::printf("  WARNING: %llu errors, %llu replies not from the model or short\n",
                static_cast<unsigned long long>(all_errors),
                static_cast<unsigned long long>(all_wrong));
  }
  nlohmann::ordered_json j = {{"bench", "serve"},
                              {"ingest_events_per_s", ingest_eps},
                              {"recommend_qps", qps},
                              {"p50_ms", p50},
                              {"p99_ms", p99},
                              {"scan_limit_qps", scan_limit_qps},
                              {"freshness_p99_ms", fresh_p99}};
  if (f.untrained_items > 0) {
    j["untrained_items"] = f.untrained_items;
    j["untrained_qps"] = untrained.qps;
    j["untrained_p99_ms"] = untrained.p99;
    j["untrained_vs_all_trained_qps"] = qps > 0 ? untrained.qps / qps : 0.0;
  }
  if (f.explain_rounds > 0) {
    j["explain_rounds"] = f.explain_rounds;
    j["explain_plain_p50_ms"] = plain.p50;
    j["explain_plain_p99_ms"] = plain.p99;
    j["explain_p50_ms"] = explained.p50;
    j["explain_p99_ms"] = explained.p99;
    j["explain_p50_vs_plain"] = plain.p50 > 0 ? explained.p50 / plain.p50 : 0.0;
    j["explain_p99_vs_plain"] = plain.p99 > 0 ? explained.p99 / plain.p99 : 0.0;
  }
  if (f.overload > 0) {
    j["overload_factor"] = f.overload;
    j["overload_offered_qps"] = overload.offered_qps;
    j["overload_accepted_qps"] = overload.accepted_qps;
    j["overload_accepted_p99_ms"] = overload.accepted_p99;
    j["overload_shed_share"] = overload.shed_share;
    // Same run: accepted p99 against the closed-loop (unloaded) p99, accepted req/s against its capacity.
    j["overload_p99_vs_unloaded"] = p99 > 0 ? overload.accepted_p99 / p99 : 0.0;
    j["overload_goodput_vs_capacity"] = qps > 0 ? overload.accepted_qps / qps : 0.0;
    j["max_queue_ms"] = f.max_queue_ms;
    // Where the accepted requests' time went in the server, both phases: queue wait, scoring pass, their sum.
    for (const auto& [name, split] : {std::pair{"unloaded", run.split}, std::pair{"overload", overload.split}}) {
      j[std::string(name) + "_wait_p99_ms"] = split.wait_p99;
      j[std::string(name) + "_pass_p99_ms"] = split.pass_p99;
      j[std::string(name) + "_sojourn_p99_ms"] = split.sojourn_p99;
      j[std::string(name) + "_mean_batch"] = split.mean_batch;
    }
  }
  std::printf("%s\n", j.dump().c_str());
  return all_errors > 0 ? 1 : 0;
}

gpt4rec::bench::Registration reg("serve",
                                 "gRPC server on loopback: ingest events/s, Recommend qps + p50/p99 over 100k items "
                                 "(synthetic d=64 model), freshness, scan limit",
                                 &RunServeBench);

}  // namespace
