#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace gpt4rec::server {
namespace {

// The request line and the one header any handler reads. Header names are case-insensitive (RFC 9110).
HttpRequest ParseHttpRequest(const std::string& raw) {
  HttpRequest r;
  const size_t line_end = raw.find_first_of("\r\n");
  const std::string line = raw.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string::npos) return r;
  r.method = line.substr(0, sp1);
  const size_t sp2 = line.find(' ', sp1 + 1);
  const std::string target = line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  std::string lower = raw;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t h = lower.find("\nauthorization:");
  if (h != std::string::npos) {
    size_t from = h + sizeof("\nauthorization:") - 1;
    const size_t to = raw.find_first_of("\r\n", from);
    while (from < to && raw[from] == ' ') ++from;
    r.authorization = raw.substr(from, to - from);
  }
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry, HttpHandler handler) {
  std::unique_ptr<MetricsHttpServer> s(new MetricsHttpServer());
  s->registry_ = std::move(registry);
  s->handler_ = std::move(handler);
  s->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return absl::InternalError("metrics: socket() failed");
  int one = 1;
  setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_bind: not an IPv4 address: ", host));
  }
  if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(s->listen_fd_, 16) != 0) {
    return absl::UnavailableError(absl::StrCat("--metrics_port: cannot listen on ", host, ":", port, ": ",
                                               std::strerror(errno)));
  }
  socklen_t len = sizeof(addr);
  getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  s->port_ = ntohs(addr.sin_port);
  s->thread_ = std::thread([raw = s.get()] { raw->Loop(); });
  return s;
}

MetricsHttpServer::~MetricsHttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void MetricsHttpServer::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // wake up regularly to notice stop_
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    close(fd);
  }
}

void MetricsHttpServer::Serve(int fd) {
  timeval timeout{2, 0};  // a slow or silent client cannot hold the endpoint
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.find("\n\n") == std::string::npos &&
         request.size() < 16384) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  const HttpRequest parsed = ParseHttpRequest(request);
  HttpResponse out;
  out.type = "text/plain; version=0.0.4; charset=utf-8";
  if (parsed.method == "GET" && parsed.path == "/metrics") {
    out.body = prometheus::TextSerializer().Serialize(registry_->Collect());
  } else if (parsed.method == "GET") {
    if (!handler_ || !handler_(parsed, &out)) {
      out.status = "404 Not Found";
      out.type = "text/plain; charset=utf-8";
      out.body = "see /metrics and / (the dashboard)\n";
    }
  } else {
    out.status = "405 Method Not Allowed";
    out.body = "GET /metrics\n";
  }
  const std::string& status = out.status;
  const std::string& type = out.type;
  const std::string& body = out.body;
  const std::string response = absl::StrCat("HTTP/1.0 ", status, "\r\nContent-Type: ", type,
                                            "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  size_t off = 0;
  while (off < response.size()) {
    const ssize_t n = write(fd, response.data() + off, response.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace gpt4rec::server
