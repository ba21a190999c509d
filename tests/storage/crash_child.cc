// storage_crash_child DIR FIRST_BATCH: appends deterministic batches FIRST_BATCH, FIRST_BATCH+1, ... to the
// store in DIR forever and writes "<batch>\n" to stdout after each AppendBatch returned OK (= acknowledged).
// storage_crash_test SIGKILLs it at random moments. Batch b: user "cu-<b>", BatchSize(b) distinct items,
// event ids "b<b>-e<j>" so that a batch re-sent after a crash is deduplicated.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "storage/graph_store.h"
#include "tests/storage/crash_batches.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: storage_crash_child DIR FIRST_BATCH\n");
    return 2;
  }
  gpt4rec::storage::StoreOptions options;
  options.segments = gpt4rec::storage::testing::kCrashSegments;
  options.mirror_image_min_events = 300;  // mirror images written often, so that kills land in their writes
  auto store = gpt4rec::storage::GraphStore::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "crash child: %s\n", store.status().ToString().c_str());
    return 1;
  }
  for (uint64_t b = std::strtoull(argv[2], nullptr, 10);; ++b) {
    auto r = (*store)->AppendBatch(gpt4rec::storage::testing::CrashBatch(b));
    if (!r.ok()) {
      std::fprintf(stderr, "crash child: %s\n", r.status().ToString().c_str());
      return 1;
    }
    const std::string line = std::to_string(b) + "\n";
    if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 1;
  }
}
