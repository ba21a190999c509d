// A minimal HTTP/1.0 endpoint that serves a prometheus-cpp registry in the text exposition format at /metrics.
//
// Why not prometheus::Exposer: its civetweb server fails to start ("null context when constructing CivetServer")
// in any process that also loads Debian's libtorch, which gpt4rec-server does. Scrapes are rare and tiny, so one
// accept thread serving one connection at a time is enough.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace gpt4rec::server {

class MetricsHttpServer {
 public:
  // Binds host:port (port 0: a free port) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& host, int port,
                                                                   std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gpt4rec::server
