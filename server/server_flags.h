// The gpt4rec-server command line: every ServerOptions field as a flag (names are a stable interface used by
// deploy/ and scripts/run-server.sh).
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "server/service.h"

namespace gpt4rec::server {

struct ProcessFlags {
  std::string log_level = "info";  // trace | debug | info | warn | error
  std::string strategy = "gpt4rec";
  std::string structure_prompt = "softmax";
};

void AddServerFlags(CLI::App& app, ServerOptions* options, ProcessFlags* process);

// Applies the string-valued model flags (strategy, structure prompt) to options->model.
absl::Status FinishServerFlags(const ProcessFlags& process, ServerOptions* options);

}  // namespace gpt4rec::server
