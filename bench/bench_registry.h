// Registry of named benchmarks for build/bin/gpt4rec-bench. A benchmark file registers itself with
//   static gpt4rec::bench::Registration reg("storage", "one-line help", &RunStorageBench);
// and prints one JSON object as its last stdout line.
#pragma once

#include <map>
#include <string>

namespace gpt4rec::bench {

// argc/argv start after the benchmark's name (argv[0] is the name). Returns the process exit code.
using BenchFn = int (*)(int argc, char** argv);

struct BenchEntry {
  std::string help;
  BenchFn fn = nullptr;
};

std::map<std::string, BenchEntry>& Registry();

struct Registration {
  Registration(const std::string& name, const std::string& help, BenchFn fn);
};

}  // namespace gpt4rec::bench
