// A minimal HTTP/1.0 endpoint that serves a prometheus-cpp registry in the text exposition format at /metrics,
// and whatever else a handler answers (the dashboard page and its JSON, server/dashboard_api.h).
//
// Why not prometheus::Exposer: its civetweb server fails to start ("null context when constructing CivetServer")
// in any process that also loads Debian's libtorch, which gpt4rec-server does. Scrapes are rare and tiny, so one
// accept thread serving one connection at a time is enough.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace gpt4rec::server {

struct HttpRequest {
  std::string method;         // "GET"
  std::string path;           // "/api/user" (without the query)
  std::string query;          // "id=u1&k=10" (still percent-encoded)
  std::string authorization;  // the Authorization header's value, "" without one
};

struct HttpResponse {
  std::string status = "200 OK";
  std::string type = "application/json";
  std::string body;
};

// false: not this handler's path (404).
using HttpHandler = std::function<bool(const HttpRequest&, HttpResponse*)>;

class MetricsHttpServer {
 public:
  // Binds host:port (port 0: a free port) and starts serving; GET requests for paths other than /metrics go to
  // `handler` (may be empty).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& host, int port,
                                                                   std::shared_ptr<prometheus::Registry> registry,
                                                                   HttpHandler handler = nullptr);
  ~MetricsHttpServer();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::shared_ptr<prometheus::Registry> registry_;
  HttpHandler handler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gpt4rec::server
