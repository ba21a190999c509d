// Server: wires the gRPC service, health, reflection, metrics and the engine together (see service.h).
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/dashboard_api.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/recommender_service.h"
#include "server/service.h"
#include "server/test_support.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace {

constexpr char kServiceName[] = "gpt4rec.v1.Recommender";
// NOT_SERVING while storage refuses writes (disk full), whatever "" and kServiceName say.
constexpr char kIngestHealthName[] = "gpt4rec.v1.Recommender/Ingest";

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const ServerOptions& options) : options_(options) {}
  ~ServerImpl() override { Shutdown(5000); }

  absl::Status Init();

  int port() const override { return port_; }
  int metrics_port() const override { return metrics_port_; }

  void Wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return shut_down_; });
  }

  void Shutdown(int grace_ms) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutting_down_) {
        return;
      }
      shutting_down_ = true;
    }
    if (grpc_server_) {
      spdlog::info("shutting down: not serving, draining in-flight RPCs ({} ms grace)", grace_ms);
      SetServing(false);
      grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
    }
    // The gRPC server has finished every call; the ingest work posted for them is done with the engine too.
    if (service_) service_->StopWork();
    if (service_) service_->SetEngine(nullptr);
    if (dashboard_) dashboard_->SetEngine(nullptr);
    if (engine_) {
      engine_->Stop();
      engine_.reset();
    }
    exposer_.reset();
    dashboard_.reset();  // after the metrics server, whose thread calls it
    spdlog::info("shut down; storage flushed");
    {
      std::lock_guard<std::mutex> lock(mu_);
      shut_down_ = true;
    }
    cv_.notify_all();
  }

  // server/test_support.h
  bool WaitForTrainingIdle(int timeout_ms) {
    return engine_ != nullptr && engine_->WaitForTrainingIdle(timeout_ms);
  }
  absl::Status InstallModel(const test_support::SyntheticModel& model, uint64_t version) {
    if (!engine_) return absl::FailedPreconditionError("server not running");
    return engine_->InstallModel(model, version);
  }
  MicroBatcher* batcher() { return engine_ ? engine_->batcher() : nullptr; }

 private:
  void SetServing(bool serving) {
    auto* health = grpc_server_->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
    health->SetServingStatus(kIngestHealthName, serving);
  }

  const ServerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<DashboardApi> dashboard_;  // declared before exposer_: destroyed after it
  std::unique_ptr<MetricsHttpServer> exposer_;
  std::unique_ptr<RecommenderService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<Engine> engine_;
  int port_ = 0;
  int metrics_port_ = -1;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutting_down_ = false;
  bool shut_down_ = false;
};

absl::Status ServerImpl::Init() {
  metrics_ = std::make_unique<Metrics>();
  if (options_.metrics_port >= 0) {
    dashboard_ = std::make_unique<DashboardApi>(options_, metrics_.get());
    auto exposer = MetricsHttpServer::Start(
        options_.metrics_bind, options_.metrics_port, metrics_->registry,
        [dashboard = dashboard_.get()](const HttpRequest& request, HttpResponse* response) {
          return dashboard->Handle(request, response);
        });
    if (!exposer.ok()) return exposer.status();
    exposer_ = std::move(*exposer);
    metrics_port_ = exposer_->port();
  }

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
    if (options_.tls_cert.empty() || options_.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
    }
    auto cert = ReadFile(options_.tls_cert, "--tls_cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(options_.tls_key, "--tls_key");
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  service_ = std::make_unique<RecommenderService>(options_, metrics_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.addr, credentials, &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(options_.max_message_bytes, INT32_MAX)));
  // Keepalive: ping idle connections and drop those whose peer does not answer, so a producer that vanished
  // (power loss, network cut) does not keep its streams open forever; and accept clients' own pings that often.
  if (options_.keepalive_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options_.keepalive_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options_.keepalive_timeout_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, options_.keepalive_ms);
  }
  if (options_.grpc_threads > 0) {
    grpc::ResourceQuota quota("gpt4rec-server");
    quota.SetMaxThreads(options_.grpc_threads);
    builder.SetResourceQuota(quota);
  }
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || port_ == 0) return absl::UnavailableError(absl::StrCat("--addr: cannot listen on ", options_.addr));
  SetServing(false);  // health answers NOT_SERVING while storage and the model load
  spdlog::info("listening on {} (port {}), loading {}", options_.addr, port_, options_.data_dir);

  auto engine = Engine::Open(options_, metrics_.get());
  if (!engine.ok()) {
    grpc_server_->Shutdown(std::chrono::system_clock::now());
    grpc_server_.reset();
    return engine.status();
  }
  engine_ = std::move(*engine);
  service_->SetEngine(engine_.get());
  if (dashboard_) dashboard_->SetEngine(engine_.get());
  SetServing(true);
  // Disk full: "" and the service stay SERVING (Recommend, GetStats serve from memory); the ingest name says
  // whether writes are accepted. A server started on a full disk gets here too, its store opened read-only.
  engine_->OnStorageWritableChange([this](bool writable) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return;
    if (auto* health = grpc_server_->GetHealthCheckService()) health->SetServingStatus(kIngestHealthName, writable);
  });
  engine_->CheckStorageWritable();
  spdlog::info("serving (model version {})", engine_->GetStats().model_version);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto server = std::make_unique<ServerImpl>(options);
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(std::move(server));
}

// The test-support functions live here because ServerImpl is private to this file; the cast is safe since
// Server::Start above is the only way to get a Server.
namespace test_support {

bool WaitForTrainingIdle(Server& server, int timeout_ms) {
  return static_cast<ServerImpl&>(server).WaitForTrainingIdle(timeout_ms);
}

absl::Status InstallModel(Server& server, const SyntheticModel& model, uint64_t version) {
  return static_cast<ServerImpl&>(server).InstallModel(model, version);
}

void RecordBatcherTimings(Server& server, bool on) {
  if (auto* batcher = static_cast<ServerImpl&>(server).batcher()) batcher->RecordTimings(on);
}

std::vector<MicroBatcher::RequestTiming> TakeBatcherTimings(Server& server) {
  auto* batcher = static_cast<ServerImpl&>(server).batcher();
  return batcher ? batcher->TakeTimings() : std::vector<MicroBatcher::RequestTiming>{};
}

}  // namespace test_support

}  // namespace gpt4rec::server
