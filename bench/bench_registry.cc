#include "bench/bench_registry.h"

namespace gpt4rec::bench {

std::map<std::string, BenchEntry>& Registry() {
  static auto* registry = new std::map<std::string, BenchEntry>();
  return *registry;
}

Registration::Registration(const std::string& name, const std::string& help, BenchFn fn) {
  Registry()[name] = BenchEntry{help, fn};
}

}  // namespace gpt4rec::bench
