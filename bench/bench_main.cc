// gpt4rec-bench <name> [--flag=value ...]: runs one registered benchmark (see --help for the list).
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/bench_registry.h"
#include "util/malloc_reuse.h"

int main(int argc, char** argv) {
  gpt4rec::util::KeepFreedMemoryForReuse();  // training steps reuse freed memory (util/malloc_reuse.h)
  const auto& registry = gpt4rec::bench::Registry();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: gpt4rec-bench <benchmark> [--flag=value ...]\n"
                "Each benchmark prints its figures as one JSON object on its last stdout line,\n"
                "next to the physical or peer limit measured in the same run.\n\nbenchmarks:\n");
    for (const auto& [name, entry] : registry) std::printf("  %-10s %s\n", name.c_str(), entry.help.c_str());
    return argc < 2 ? 2 : 0;
  }
  auto it = registry.find(argv[1]);
  if (it == registry.end()) {
    std::fprintf(stderr, "gpt4rec-bench: unknown benchmark '%s' (try --help)\n", argv[1]);
    return 2;
  }
  return it->second.fn(argc - 1, argv + 1);
}
