// The REAL gpt4rec-server binary as a child process for the fault-injection tests: started with chosen flags
// on 127.0.0.1 (a free port) over a real data directory, killed with real signals. Its stderr goes to a file
// the tests read (refusals at start must say why).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gpt4rec/v1/recommender.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace gpt4rec::faults {

namespace v1 = gpt4rec::v1;

// Flags that keep training short and the logs quiet; tests append their own.
inline std::vector<std::string> SmallModelFlags() {
  return {"--metrics_port=-1", "--segment=manual", "--log_level=warn", "--dim=16", "--views=2",
          "--max_epochs=2", "--min_epochs=2", "--batch_size=256", "--threads=1", "--refresh_ms=50"};
}

class ServerChild {
 public:
  ServerChild() = default;
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;
  ~ServerChild() { Kill(); }

  // Starts the binary; true once it printed its "listening on port N" line (the store and model are loaded by
  // then). false when it exited first (see exit_status() and log()).
  bool Start(const std::string& data_dir, std::vector<std::string> extra = {}) {
    log_path_ = data_dir + ".server.log";
    // GPT4REC_FAULTS_SERVER runs the same scenarios against another build of the binary (e.g. an older one).
    const char* binary = std::getenv("GPT4REC_FAULTS_SERVER");
    std::vector<std::string> args = {binary != nullptr ? binary : GPT4REC_SERVER_BIN, "--addr=127.0.0.1:0",
                                     "--data_dir=" + data_dir};
    // A flag in `extra` replaces the default of the same name.
    for (auto& f : SmallModelFlags()) {
      const std::string name = f.substr(0, f.find('='));
      bool replaced = false;
      for (const auto& e : extra) replaced = replaced || e.rfind(name + "=", 0) == 0;
      if (!replaced) args.push_back(f);
    }
    for (auto& f : extra) args.push_back(std::move(f));
    int out[2];
    if (pipe(out) != 0) return false;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      FILE* err = std::fopen(log_path_.c_str(), "a");
      if (err != nullptr) dup2(fileno(err), STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[512] = {0};
    port_ = 0;
    if (fgets(line, sizeof(line), f) != nullptr) {
      std::cmatch m;
      if (std::regex_search(line, m, std::regex("port (\\d+)"))) port_ = std::stoi(m[1]);
    }
    fclose(f);
    if (port_ == 0) {  // it exited (or closed stdout): collect its status
      Wait();
      return false;
    }
    return true;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  int exit_status() const { return status_; }

  std::unique_ptr<v1::Recommender::Stub> Connect() const {
    return v1::Recommender::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }

  void Kill(int signal = SIGKILL) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    Wait();
  }

  // SIGTERM and wait: the exit status (0 on a graceful shutdown).
  int Terminate() {
    Kill(SIGTERM);
    return status_;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Threads of the running process (/proc/<pid>/task).
  int threads() const {
    int n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/task", ec);
         it != std::filesystem::directory_iterator(); ++it) {
      ++n;
    }
    return n;
  }

 private:
  void Wait() {
    if (pid_ <= 0) return;
    int status = 0;
    waitpid(pid_, &status, 0);
    status_ = status;
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = 0;
  std::string log_path_;
};

inline void Deadline(grpc::ClientContext* ctx, int ms) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

inline v1::Event Ev(const std::string& user, const std::string& item, int64_t ts) {
  v1::Event e;
  e.set_user_id(user);
  e.set_item_id(item);
  e.set_timestamp(ts);
  return e;
}

inline grpc::Status IngestBatch(v1::Recommender::Stub* stub, const v1::IngestRequest& req, v1::IngestReply* rep,
                                int ms = 30000) {
  grpc::ClientContext ctx;
  Deadline(&ctx, ms);
  return stub->Ingest(&ctx, req, rep);
}

inline grpc::Status GetStats(v1::Recommender::Stub* stub, v1::GetStatsReply* rep, int ms = 10000) {
  grpc::ClientContext ctx;
  Deadline(&ctx, ms);
  return stub->GetStats(&ctx, v1::GetStatsRequest(), rep);
}

inline v1::GetStatsReply Stats(v1::Recommender::Stub* stub) {
  v1::GetStatsReply rep;
  if (!GetStats(stub, &rep).ok()) throw std::runtime_error("GetStats failed");
  return rep;
}

// Polls `condition` until it holds or `timeout` passes (what the server does in the background is visible only
// through its replies).
template <typename Condition>
bool PollUntil(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A small two-community graph: users a*/b* on items A*/B*, `per_user` events each, event time from ts0.
inline v1::IngestRequest Communities(int users, int items, int per_user, int64_t ts0, const std::string& tag = "") {
  v1::IngestRequest req;
  for (int side = 0; side < 2; ++side) {
    const std::string up = side == 0 ? "a" : "b";
    const std::string ip = side == 0 ? "A" : "B";
    for (int u = 0; u < users; ++u) {
      for (int j = 0; j < per_user; ++j) {
        *req.add_events() = Ev(up + tag + std::to_string(u), ip + std::to_string((u * 7 + j * 3) % items),
                               ts0 + u * 10 + j);
      }
    }
  }
  return req;
}

}  // namespace gpt4rec::faults
