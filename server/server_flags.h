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
};

void AddServerFlags(CLI::App& app, ServerOptions* options, ProcessFlags* process);

// Checks the flags that need more than a type check (ranges, combinations).
absl::Status FinishServerFlags(const ProcessFlags& process, ServerOptions* options);

}  // namespace gpt4rec::server
