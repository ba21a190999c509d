// Runs a peer command (a reference implementation the benchmark compares with) and reads its result: the last
// non-empty stdout line as JSON. Null when the command fails or that line is not JSON.
#pragma once

#include <cstdio>
#include <string>

#include "nlohmann/json.hpp"

namespace gpt4rec::bench {

inline nlohmann::json LastJsonLine(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return nullptr;
  std::string last, line;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) {
    line = buf;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty()) last = line;
  }
  if (pclose(p) != 0) return nullptr;
  auto j = nlohmann::json::parse(last, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

}  // namespace gpt4rec::bench
