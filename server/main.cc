// gpt4rec-server: the streaming recommender gRPC service. `gpt4rec-server --help` lists every flag.
// SIGTERM / SIGINT: graceful shutdown (health NOT_SERVING, stop accepting, drain, flush storage); a second signal
// exits at once.
#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include "CLI/CLI.hpp"
#include "server/server_flags.h"
#include "server/service.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "util/malloc_reuse.h"

int main(int argc, char** argv) {
  gpt4rec::util::KeepFreedMemoryForReuse();  // training steps reuse freed memory (util/malloc_reuse.h)
  gpt4rec::server::ServerOptions options;
  options.addr = "0.0.0.0:50051";
  options.metrics_port = 9464;
  gpt4rec::server::ProcessFlags process;
  CLI::App app{"gpt4rec-server: streaming graph recommender (gRPC gpt4rec.v1.Recommender, grpc.health.v1, "
               "reflection, Prometheus /metrics, dashboard /)"};
  gpt4rec::server::AddServerFlags(app, &options, &process);
  CLI11_PARSE(app, argc, argv);

  // Logs go to stderr; stdout carries only the "listening" line that tools wait for.
  spdlog::set_default_logger(spdlog::stderr_color_mt("gpt4rec"));
  spdlog::set_level(spdlog::level::from_str(process.log_level));
  if (absl::Status s = gpt4rec::server::FinishServerFlags(process, &options); !s.ok()) {
    std::fprintf(stderr, "gpt4rec-server: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  // Block the stop signals in every thread (all start after this) and take them synchronously below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = gpt4rec::server::Server::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  std::printf("gpt4rec-server listening on port %d (metrics port %d)\n", (*server)->port(),
              (*server)->metrics_port());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: shutting down gracefully (send it again to exit at once)", sig);
  std::thread second([&stop_signals] {
    int again = 0;
    sigwait(&stop_signals, &again);
    std::fprintf(stderr, "gpt4rec-server: second signal, exiting now\n");
    _exit(130);
  });
  second.detach();
  (*server)->Shutdown(5000);
  return 0;
}
