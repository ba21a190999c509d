// gpt4rec-bench storage [--events=N --batch=B ...]: durable ingest rate of the graph store against the raw
// RocksDB limit measured in the same run. The store's own WriteBatches are captured and replayed, byte for
// byte, into a fresh RocksDB with the same column families and options, so `ratio` is the store's overhead
// (validation, interning, the in-memory mirror, encoding) on top of what RocksDB itself costs for those bytes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/bench_registry.h"
#include "storage/bench_support.h"  // the raw limit must use the store's exact RocksDB layout and tuning
#include "storage/graph_store.h"
#include "util/thread_cpu.h"

namespace gpt4rec::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// `v` to `digits` decimals, as the JSON line reports it.
double Rounded(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Seconds the calling thread waited on a run queue, runnable but not running (/proc/thread-self/schedstat,
// second field, ns; 0 where the kernel lacks schedstats): with the CPU seconds this splits the ingest's wall
// time into running, waiting for a core (other load) and blocked (I/O, fsync, locks, RocksDB stalls).
double ThreadRunQueueSeconds() {
  std::ifstream in("/proc/thread-self/schedstat");
  unsigned long long run_ns = 0, wait_ns = 0;
  if (!(in >> run_ns >> wait_ns)) return 0;
  return static_cast<double>(wait_ns) * 1e-9;
}

// Resident set (VmRSS) and its peak (VmHWM) in bytes, from /proc/self/status.
uint64_t ProcStatusBytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size())) * 1024;  // "  123 kB"
  return 0;
}
// Makes VmHWM restart from the current RSS (Linux: "5" to clear_refs), so the store's own peak can be read.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

struct Flags {
  uint64_t events = 2000000;
  uint32_t batch = 1000;
  uint32_t users = 200000;
  uint32_t items = 50000;
  double exponent = 1.0;
  std::string segments = "day";
  bool event_ids = false;
  bool sync = false;
  bool foreground_edge_files = false;
  std::string dir;
};

// false: print the error (or --help) and exit with `*exit_code`.
bool ParseFlags(int argc, char** argv, Flags* f, int* exit_code) {
  CLI::App app{"gpt4rec-bench storage: appends synthetic power-law events to a fresh graph store (WAL on), then "
               "writes the identical WriteBatch bytes with raw RocksDB (same column families and options) as the "
               "limit, and once more only the packed event log (the least a durable store writes). Last stdout line: one "
               "JSON object with events_per_s, both raw limits and ratios, bytes written per event, RAM and disk "
               "bytes per edge, csr_build_s, reopen_s (from the mirror image) and reopen_scan_s (without it), peak RSS."};
  app.name("gpt4rec-bench storage");
  app.add_option("--events", f->events, "events to append")->capture_default_str();
  app.add_option("--batch", f->batch, "events per AppendBatch")->capture_default_str();
  app.add_option("--users", f->users, "distinct users, Zipf-distributed")->capture_default_str();
  app.add_option("--items", f->items, "distinct items, Zipf-distributed")->capture_default_str();
  app.add_option("--exponent", f->exponent, "Zipf exponent for users and items")->capture_default_str();
  app.add_option("--segments", f->segments, "segment policy: hour|day|month|manual|events:N (~1 day per 200k events)")
      ->capture_default_str();
  app.add_flag("--event_ids", f->event_ids, "give every event an idempotency key (one more key per event)");
  app.add_flag("--sync", f->sync, "fsync the WAL per batch (both runs)");
  app.add_flag("--foreground_edge_files", f->foreground_edge_files,
               "the appends write the edge-value files themselves (StoreOptions::background_edge_files = false)");
  app.add_option("--dir", f->dir, "scratch directory (default: a new folder under the system temp dir, removed after)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return false;
  }
  if (f->events == 0 || f->batch == 0 || f->users == 0 || f->items == 0) {
    std::fprintf(stderr, "storage bench: --events, --batch, --users and --items must be positive\n");
    *exit_code = 2;
    return false;
  }
  return true;
}

// Zipf sampler over ranks 0..n-1 by inverse CDF; ranks are scattered over the id space so that popular ids
// are not all numerically small.
class Zipf {
 public:
  Zipf(uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(k + 1.0, s));
    for (double& c : cdf_) c /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const auto k = static_cast<uint32_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    return static_cast<uint32_t>((uint64_t{std::min<size_t>(k, cdf_.size() - 1)} * 2654435761ull) % cdf_.size());
  }

 private:
  std::vector<double> cdf_;
};

uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) total += entry.file_size();
  return total;
}

int RunStorageBench(int argc, char** argv) {
  Flags flags;
  if (int exit_code = 0; !ParseFlags(argc, argv, &flags, &exit_code)) return exit_code;
  absl::StatusOr<storage::SegmentPolicy> policy = storage::ParseSegmentPolicy(flags.segments);
  if (!policy.ok()) {
    std::fprintf(stderr, "storage bench: %s\n", policy.status().ToString().c_str());
    return 2;
  }
  const bool own_dir = flags.dir.empty();
  fs::path root = own_dir ? fs::temp_directory_path() / ("gpt4rec-storage-bench-" + std::to_string(getpid()))
                          : fs::path(flags.dir);
  fs::remove_all(root);
  fs::create_directories(root);

  // Synthetic stream, generated before timing: ~200k events per day of event time.
  std::fprintf(stderr, "storage bench: generating %llu events (%u users, %u items, zipf %.2f)\n",
               static_cast<unsigned long long>(flags.events), flags.users, flags.items, flags.exponent);
  std::mt19937_64 rng(42);
  Zipf user_dist(flags.users, flags.exponent), item_dist(flags.items, flags.exponent);
  std::vector<std::vector<storage::Event>> batches;
  const int64_t t0 = 1700000000;
  for (uint64_t i = 0; i < flags.events; i += flags.batch) {
    std::vector<storage::Event> batch;
    const uint64_t n = std::min<uint64_t>(flags.batch, flags.events - i);
    batch.reserve(n);
    for (uint64_t j = 0; j < n; ++j) {
      storage::Event e;
      e.user_id = "u" + std::to_string(user_dist(rng));
      e.item_id = "i" + std::to_string(item_dist(rng));
      e.timestamp = t0 + static_cast<int64_t>((i + j) * 86400 / 200000);
      e.event_type = static_cast<int32_t>(rng() % 3);
      e.weight = 1.0f;
      if (flags.event_ids) e.event_id = "ev" + std::to_string(i + j);
      batch.push_back(std::move(e));
    }
    batches.push_back(std::move(batch));
  }

  // 1. The graph store.
  std::vector<std::string> captured;
  captured.reserve(batches.size());
  storage::StoreOptions options;
  options.sync = flags.sync;
  options.background_edge_files = !flags.foreground_edge_files;
  options.segments = *policy;
  const std::string store_dir = (root / "store").string();
  uint64_t edges = 0, ram = 0, disk = 0, edge_file_bytes = 0, image_written_bytes = 0;
  double image_write_s = 0, edge_thread_cpu = 0;
  double store_s = 0, csr_s = 0, flush_s = 0, reopen_s = 0, store_cpu = 0, raw_cpu = 0, store_runqueue_s = 0;
  const std::string load_before = LoadAverage();
  // The generated events are held in RAM for the whole run: the store's share is the peak above this.
  const uint64_t rss_before_store = ProcStatusBytes("VmRSS");
  ResetPeakRss();
  uint64_t store_peak_rss = 0;
  size_t csr_nnz = 0;
  {
    auto store = storage::bench::OpenObservingWriteBatches(
        store_dir, options, [&](std::string_view rep) { captured.emplace_back(rep); });
    if (!store.ok()) {
      std::fprintf(stderr, "storage bench: %s\n", store.status().ToString().c_str());
      return 1;
    }
    const auto start = Clock::now();
    const double cpu_start = util::ThreadCpuSeconds();
    const double wait_start = ThreadRunQueueSeconds();
    for (const auto& batch : batches) {
      auto r = (*store)->AppendBatch(batch);
      if (!r.ok()) {
        std::fprintf(stderr, "storage bench: append failed: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
    store_s = Seconds(start);
    store_cpu = util::ThreadCpuSeconds() - cpu_start;
    store_runqueue_s = ThreadRunQueueSeconds() - wait_start;
    const auto csr_start = Clock::now();
    auto csr = (*store)->AccumulatedCsr((*store)->OpenSegment().index);
    csr_s = Seconds(csr_start);
    if (!csr.ok()) return 1;
    csr_nnz = csr->indices.size();
    edges = (*store)->GetCounts().edges;
    ram = (*store)->MemoryBytes();
    // The last periodic mirror image, kept aside: reopening from it below measures a restart after a crash
    // (the image plus the log after it replayed).
    std::error_code ec;
    if (fs::exists(fs::path(store_dir) / "mirror.image"))
      fs::copy_file(fs::path(store_dir) / "mirror.image", root / "periodic.image", ec);
    const auto flush_start = Clock::now();
    if (!(*store)->Flush().ok()) return 1;
    flush_s = Seconds(flush_start);
    edge_file_bytes = storage::bench::EdgeFileBytes(**store);
    // After the Flush, which waits for the file still in flight: every background file's CPU.
    edge_thread_cpu = storage::bench::EdgeFileThreadCpuSeconds(**store);
    image_written_bytes = storage::bench::MirrorImageBytesWritten(**store);  // periodic ones and Flush's
    image_write_s = storage::bench::MirrorImageWriteSeconds(**store);
    store_peak_rss = ProcStatusBytes("VmHWM");
    std::fprintf(stderr, "storage bench: store %.2f s, %zu closed segments, %llu edges, csr nnz %zu\n", store_s,
                 (*store)->ClosedSegments().size(), static_cast<unsigned long long>(edges), csr_nnz);
  }
  // The mirror image (storage/mirror_image.h) is a cache of the mirror, not a column family: reported apart.
  const fs::path image_path = fs::path(store_dir) / "mirror.image";
  std::error_code image_ec;
  const uint64_t image_bytes = fs::exists(image_path) ? fs::file_size(image_path, image_ec) : 0;
  disk = DirBytes(store_dir) - image_bytes;
  // Reopened twice: as a restart does (from the image Flush wrote), then with the image removed (the scan of
  // the column families, as before images and as a store without one opens).
  bool reopen_used_image = false;
  double reopen_scan_s = 0;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) fs::remove(image_path, image_ec);
    const auto start = Clock::now();
    auto reopened = storage::GraphStore::Open(store_dir, storage::StoreOptions{});
    (pass == 0 ? reopen_s : reopen_scan_s) = Seconds(start);
    if (!reopened.ok() || (*reopened)->GetCounts().edges != edges) {
      std::fprintf(stderr, "storage bench: reopen mismatch\n");
      return 1;
    }
    if (pass == 0) reopen_used_image = storage::bench::MirrorImageLoaded(**reopened);
    if (image_bytes == 0) break;
  }
  // From the periodic image (as after a crash): the image, then the events after it replayed from the log.
  double reopen_tail_s = 0;
  uint64_t reopen_tail_events = 0;
  if (fs::exists(root / "periodic.image")) {
    fs::copy_file(root / "periodic.image", image_path, fs::copy_options::overwrite_existing, image_ec);
    const auto start = Clock::now();
    auto reopened = storage::GraphStore::Open(store_dir, storage::StoreOptions{});
    reopen_tail_s = Seconds(start);
    if (!reopened.ok() || (*reopened)->GetCounts().edges != edges || !storage::bench::MirrorImageLoaded(**reopened)) {
      std::fprintf(stderr, "storage bench: reopen from the periodic image failed\n");
      return 1;
    }
    reopen_tail_events = storage::bench::ReplayedEvents(**reopened);
  }

  // 2. The limits: the same WriteBatch bytes straight into RocksDB with the same layout and options; and only
  // the packed event log of the same events (what any durable store must write at least).
  double raw_s = 0, log_s = 0;
  {
    storage::StoreOptions raw_options;
    raw_options.sync = flags.sync;
    auto raw = storage::bench::RawRocksReplay::Open((root / "raw").string(), raw_options);
    if (!raw.ok()) {
      std::fprintf(stderr, "storage bench: %s\n", raw.status().ToString().c_str());
      return 1;
    }
    const auto start = Clock::now();
    const double cpu_start = util::ThreadCpuSeconds();
    for (const std::string& rep : captured) {
      if (absl::Status s = (*raw)->Write(rep, flags.sync); !s.ok()) {
        std::fprintf(stderr, "storage bench: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    raw_s = Seconds(start);
    raw_cpu = util::ThreadCpuSeconds() - cpu_start;
  }
  {
    storage::StoreOptions raw_options;
    raw_options.sync = flags.sync;
    auto raw = storage::bench::RawRocksReplay::Open((root / "rawlog").string(), raw_options);
    if (!raw.ok()) {
      std::fprintf(stderr, "storage bench: %s\n", raw.status().ToString().c_str());
      return 1;
    }
    const auto start = Clock::now();
    for (const std::string& rep : captured) {
      if (absl::Status s = (*raw)->WriteEventLogOnly(rep, flags.sync); !s.ok()) {
        std::fprintf(stderr, "storage bench: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    log_s = Seconds(start);
  }
  uint64_t wb_bytes = 0, log_bytes = 0;
  for (const auto& rep : captured) {
    wb_bytes += rep.size();
    log_bytes += storage::bench::RawRocksReplay::EventLogBytes(rep);
  }
  if (own_dir) fs::remove_all(root);

  const double n = static_cast<double>(flags.events);
  const double eps = n / store_s, raw_eps = n / raw_s, log_eps = n / log_s;
  std::printf("store: %.0f events/s (%.2f s); raw RocksDB, same %.1f MB of WriteBatches: %.0f events/s (%.2f s)\n",
              eps, store_s, wb_bytes / 1e6, raw_eps, raw_s);
  std::printf("calling-thread CPU: store %.2f s, raw %.2f s, CPU ratio %.3f (1-min load average %s before, %s after)\n",
              store_cpu, raw_cpu, raw_cpu / store_cpu, load_before.c_str(), LoadAverage().c_str());
  std::printf("store's writer thread: %.2f s running, %.2f s runnable waiting for a core, %.2f s blocked, of %.2f s\n",
              store_cpu, store_runqueue_s, std::max(0.0, store_s - store_cpu - store_runqueue_s), store_s);
  std::printf("edge files written %s; background edge-file threads' CPU %.2f s (store's CPU in all %.2f s: %.0f "
              "events per CPU-second)\n",
              flags.foreground_edge_files ? "by the appends" : "in the background", edge_thread_cpu,
              store_cpu + edge_thread_cpu, n / (store_cpu + edge_thread_cpu));
  std::printf("including the final flush of all memtables (sorting the vector memtables, writing SSTs): %.0f events/s\n",
              n / (store_s + flush_s));
  std::printf("final flush %.2f s, reopen (mirror rebuild) %.2f s (%s; without the image %.2f s), disk %.1f MB "
              "(+ image %.1f MB), mirror %.1f MB, csr %.3f s\n",
              flush_s, reopen_s, reopen_used_image ? "from the mirror image" : "scan", reopen_scan_s, disk / 1e6,
              image_bytes / 1e6, ram / 1e6, csr_s);
  std::printf("reopen from the last periodic image (as after a crash): %.2f s, %llu events replayed\n", reopen_tail_s,
              static_cast<unsigned long long>(reopen_tail_events));
  std::printf("raw RocksDB, packed event log only (%.1f MB): %.0f events/s; written per event: %.1f B (log %.1f B, "
              "WriteBatches %.1f B, edge files %.1f B)\n",
              log_bytes / 1e6, log_eps, (wb_bytes + edge_file_bytes) / n, log_bytes / n, wb_bytes / n,
              edge_file_bytes / n);
  std::printf("RSS: %.0f MB before the store (generated events), store's peak above it %.0f MB, process peak %.0f MB\n",
              rss_before_store / 1e6, (store_peak_rss - std::min(store_peak_rss, rss_before_store)) / 1e6,
              ProcStatusBytes("VmHWM") / 1e6);
  // Rounded as the figures are reported (a rate to whole events, a ratio to 3 decimals).
  nlohmann::ordered_json j = {
      {"bench", "storage"},
      {"events", flags.events},
      {"events_per_s", std::round(eps)},
      {"raw_rocksdb_events_per_s", std::round(raw_eps)},
      {"ratio", Rounded(eps / raw_eps, 3)},
      {"store_thread_cpu_s", Rounded(store_cpu, 2)},
      {"events_per_thread_cpu_s", std::round(n / store_cpu)},
      // The ingest's wall time = the writer's CPU + its run-queue wait (no free core) + the rest, blocked.
      {"store_thread_runqueue_wait_s", Rounded(store_runqueue_s, 2)},
      {"background_edge_files", !flags.foreground_edge_files},
      // The background edge-file threads' CPU, and events per CPU-second of the writer and those threads.
      {"edge_file_thread_cpu_s", Rounded(edge_thread_cpu, 2)},
      {"events_per_store_cpu_s", std::round(n / (store_cpu + edge_thread_cpu))},
      {"store_thread_blocked_s", Rounded(std::max(0.0, store_s - store_cpu - store_runqueue_s), 2)},
      {"raw_thread_cpu_s", Rounded(raw_cpu, 2)},
      {"raw_event_log_events_per_s", std::round(log_eps)},
      {"ratio_vs_event_log", Rounded(eps / log_eps, 3)},
      {"events_per_s_incl_flush", std::round(n / (store_s + flush_s))},
      // WriteBatches plus the edge-value files the store ingests (which the raw replay does not write).
      {"bytes_written_per_event", Rounded((wb_bytes + edge_file_bytes) / n, 1)},
      {"write_batch_bytes_per_event", Rounded(wb_bytes / n, 1)},
      {"edge_file_bytes_per_event", Rounded(edge_file_bytes / n, 1)},
      // Not in bytes_written_per_event: the mirror images (periodic ones during ingest, and Flush's).
      {"image_bytes_written_per_event", Rounded(image_written_bytes / n, 1)},
      {"image_write_s", Rounded(image_write_s, 2)},  // inside the ingest (periodic) and the flush figures
      {"event_log_bytes_per_event", Rounded(log_bytes / n, 1)},
      {"disk_bytes_per_edge", Rounded(edges ? static_cast<double>(disk) / edges : 0.0, 1)},
      {"ram_bytes_per_edge", Rounded(edges ? static_cast<double>(ram) / edges : 0.0, 1)},
      {"csr_build_s", Rounded(csr_s, 4)},
      {"reopen_s", Rounded(reopen_s, 2)},
      {"reopen_from_image", reopen_used_image},
      {"reopen_scan_s", Rounded(reopen_scan_s, 2)},
      {"reopen_periodic_image_s", Rounded(reopen_tail_s, 2)},
      {"reopen_periodic_image_replayed_events", reopen_tail_events},
      {"image_bytes_per_edge", Rounded(edges ? static_cast<double>(image_bytes) / edges : 0.0, 1)},
      {"store_peak_rss_mb", std::round((store_peak_rss - std::min(store_peak_rss, rss_before_store)) / 1e6)},
      {"peak_rss_mb", std::round(ProcStatusBytes("VmHWM") / 1e6)},
      {"load_average_before", load_before}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

Registration registration("storage", "graph store ingest vs raw RocksDB (--events N --batch B, --help)",
                          &RunStorageBench);

}  // namespace
}  // namespace gpt4rec::bench
