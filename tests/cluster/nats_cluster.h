// A REAL 3-node NATS cluster with JetStream for the cluster-mode tests: Debian's nats-server processes on
// 127.0.0.1, free ports, each node's JetStream store in its own temporary directory, killed with real signals.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace gpt4rec::cluster_test {

// A port the kernel just handed out for 127.0.0.1 (closed again; nats-server binds it right after).
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

class NatsCluster {
 public:
  // Picks the ports; Start(i) launches node i. `dir`: one subdirectory per node.
  NatsCluster(std::string dir, int nodes) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    for (int i = 0; i < nodes; ++i) nodes_.push_back(Node{FreePort(), FreePort(), -1});
  }
  ~NatsCluster() {
    for (size_t i = 0; i < nodes_.size(); ++i) Kill(static_cast<int>(i));
  }

  bool Start(int i) {
    Node& n = nodes_[i];
    std::vector<std::string> routes;
    std::string route_list;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (static_cast<int>(j) == i) continue;
      if (!route_list.empty()) route_list += ",";
      route_list += "nats://127.0.0.1:" + std::to_string(nodes_[j].cluster_port);
    }
    std::vector<std::string> args = {"nats-server",
                                     "-a", "127.0.0.1",
                                     "-p", std::to_string(n.client_port),
                                     "-n", "n" + std::to_string(i),
                                     "-js",
                                     "-sd", dir_ + "/n" + std::to_string(i),
                                     "--cluster_name", "gpt4rec-test",
                                     "--cluster", "nats://127.0.0.1:" + std::to_string(n.cluster_port),
                                     "--routes", route_list,
                                     "-l", dir_ + "/n" + std::to_string(i) + ".log"};
    n.pid = fork();
    if (n.pid < 0) return false;
    if (n.pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("nats-server", argv.data());
      _exit(127);
    }
    return true;
  }

  void Kill(int i, int signal = SIGKILL) {
    Node& n = nodes_[i];
    if (n.pid <= 0) return;
    ::kill(n.pid, signal);
    int status = 0;
    waitpid(n.pid, &status, 0);
    n.pid = -1;
  }

  // "nats://127.0.0.1:a,nats://127.0.0.1:b,..." — every node, as a replica's --log.
  std::string Urls() const {
    std::string out;
    for (const Node& n : nodes_) {
      if (!out.empty()) out += ",";
      out += "nats://127.0.0.1:" + std::to_string(n.client_port);
    }
    return out;
  }

 private:
  struct Node {
    int client_port;
    int cluster_port;
    pid_t pid;
  };
  std::string dir_;
  std::vector<Node> nodes_;
};

}  // namespace gpt4rec::cluster_test
