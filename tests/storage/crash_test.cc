// Crash test: a child process appends batches and acknowledges each on a pipe; it is SIGKILLed at random
// moments (>= 20 times, about a minute at most). After every kill the store is reopened and must hold every
// acknowledged batch completely, at most the one unacknowledged batch in flight (completely or not at all),
// and nothing partial or duplicated. Each child resumes after the last acknowledged batch.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>

#include "storage/rocks_graph_store.h"
#include "tests/common/temp_dir.h"
#include "tests/storage/crash_batches.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;

namespace {

// Starts the child with stdout on a pipe, lets it run `run_ms`, SIGKILLs it, returns every acknowledged batch.
std::vector<int64_t> RunAndKill(const std::string& dir, int64_t first_batch, int run_ms) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const std::string first = std::to_string(first_batch);
    execl(GPT4REC_CRASH_CHILD, GPT4REC_CRASH_CHILD, dir.c_str(), first.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string acks;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
  bool child_gone = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) {
      child_gone = true;  // exited on its own: an error, reported below
      break;
    }
    acks.append(buf, n);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) acks.append(buf, n);
  close(fds[0]);
  INFO("child exit status " << status);
  REQUIRE_FALSE(child_gone);
  REQUIRE(WIFSIGNALED(status));
  std::vector<int64_t> out;
  size_t start = 0;
  for (size_t nl; (nl = acks.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(std::stoll(acks.substr(start, nl - start)));
  return out;
}

// Checks the reopened store against the acknowledged prefix [0, acked]; returns whether the in-flight
// batch acked + 1 is present (completely).
// Opens that built the mirror from a mirror image (a child's periodic one or the Flush of an earlier check).
int g_opened_from_image = 0;

bool VerifyStore(const std::string& dir, int64_t acked, bool flush_after) {
  StoreOptions options;
  options.segments = kCrashSegments;
  auto opened = GraphStore::Open(dir, options);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  GraphStore& store = **opened;
  g_opened_from_image += dynamic_cast<const RocksGraphStore&>(store).GetImageInfo().loaded;
  auto present = [&](int64_t b) {
    const auto user = store.FindUser(CrashUser(b));
    if (!user) return false;
    const std::vector<EdgeInfo> items = store.UserItems(*user);
    size_t applied_once = 0;
    for (const EdgeInfo& e : items) applied_once += e.count == 1;
    if (items.size() != CrashBatchSize(b) || applied_once != items.size()) {  // partial or applied twice
      FAIL("batch " << b << ": " << items.size() << " edges, " << applied_once << " with count 1, want "
                    << CrashBatchSize(b));
    }
    return true;
  };
  for (int64_t b = 0; b <= acked; ++b)
    if (!present(b)) FAIL("acknowledged batch " << b << " missing");
  const bool in_flight = present(acked + 1);
  REQUIRE_FALSE(present(acked + 2));

  // Totals agree with the batches, across the log, the counters, both adjacency directions and segments.
  uint64_t want_events = 0;
  std::map<uint32_t, uint32_t> want_item_degree;
  for (int64_t b = 0; b <= acked + (in_flight ? 1 : 0); ++b) {
    want_events += CrashBatchSize(b);
    for (uint32_t j = 0; j < CrashBatchSize(b); ++j) ++want_item_degree[CrashItem(b, j)];
  }
  const Counts c = store.GetCounts();
  REQUIRE(c.events == want_events);
  REQUIRE(c.edges == want_events);
  REQUIRE(AllEvents(store).size() == want_events);
  for (const auto& [item, degree] : want_item_degree)
    if (store.ItemDegree(*store.FindItem("ci-" + std::to_string(item))) != degree) FAIL("item " << item << " degree");
  uint64_t next = 1, segment_events = 0;
  for (const SegmentInfo& s : store.ClosedSegments()) {
    REQUIRE(s.first_sequence == next);
    REQUIRE(s.events == 997);
    next = s.end_sequence;
    segment_events += s.events;
  }
  REQUIRE(store.OpenSegment().first_sequence == next);
  REQUIRE(segment_events + store.OpenSegment().events == want_events);
  if (flush_after) REQUIRE(store.Flush().ok());  // writes a mirror image: later opens load it
  return in_flight;
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses no acknowledged batch and leaves none partial", "[storage][crash]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  const uint32_t seed = std::random_device{}();
  INFO("kill-timing seed " << seed);
  std::mt19937 rng(seed);
  int64_t acked = -1;
  int kills = 0, in_flight_seen = 0;
  const auto start = std::chrono::steady_clock::now();
  while (kills < 20 || (kills < 40 && std::chrono::steady_clock::now() - start < std::chrono::seconds(25))) {
    const int run_ms = 40 + static_cast<int>(rng() % 400);
    const std::vector<int64_t> acks = RunAndKill(dir, acked + 1, run_ms);
    for (int64_t b : acks) REQUIRE(b == ++acked);  // in order, none skipped
    ++kills;
    if (VerifyStore(dir, acked, /*flush_after=*/kills % 5 == 1)) ++in_flight_seen;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) break;
  }
  INFO("kills " << kills << ", acknowledged batches " << acked + 1 << ", unacknowledged-but-durable "
                << in_flight_seen);
  REQUIRE(kills >= 20);
  REQUIRE(acked >= 100);  // the children did real work between kills
  REQUIRE(g_opened_from_image > 0);
  // Resending an acknowledged batch after all this is still deduplicated.
  auto store = OpenStore(dir, kCrashSegments);
  AppendResult r = Append(*store, CrashBatch(0));
  REQUIRE(r.appended == 0);
  REQUIRE(r.duplicates == CrashBatchSize(0));
  WARN("crash test: " << kills << " kills, " << acked + 1 << " acknowledged batches, in-flight batch durable "
                      << in_flight_seen << " times, " << g_opened_from_image << " checks opened from a mirror image");
}
