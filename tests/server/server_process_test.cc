// build/bin/gpt4rec-server as a child process: SIGKILL during streaming ingest loses no acknowledged event;
// SIGTERM shuts down gracefully.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/common/temp_dir.h"
#include "tests/server/server_fixture.h"

using namespace gpt4rec::testing;

namespace {

struct Child {
  pid_t pid = -1;
  int port = 0;
};

// Starts the server binary and reads its "listening on port N" line from stdout.
Child Spawn(const std::string& data_dir) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    const std::string data = "--data_dir=" + data_dir;
    execl(GPT4REC_SERVER_BIN, GPT4REC_SERVER_BIN, "--addr=127.0.0.1:0", data.c_str(), "--metrics_port=-1",
          "--segment=manual", "--log_level=warn", "--dim=16", "--views=2", "--max_epochs=2", "--threads=1",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[512] = {0};
  Child child;
  child.pid = pid;
  if (fgets(line, sizeof(line), f) != nullptr) {
    std::cmatch m;
    if (std::regex_search(line, m, std::regex("port (\\d+)"))) child.port = std::stoi(m[1]);
  }
  fclose(f);
  return child;
}

v1::IngestRequest NumberedBatch(int batch, int size) {
  v1::IngestRequest req;
  for (int i = 0; i < size; ++i) {
    const int n = batch * size + i;
    *req.add_events() = MakeEvent("user" + std::to_string(n % 1000), "item" + std::to_string((n * 7) % 3000),
                                  1000 + n, "ev" + std::to_string(n));
  }
  return req;
}

}  // namespace

TEST_CASE("SIGKILL during streaming ingest loses no acknowledged event") {
  TempDir dir("server-sigkill");
  const std::string data = dir / "data";
  Child child = Spawn(data);
  REQUIRE(child.port > 0);
  constexpr int kBatch = 500;
  std::atomic<int> acked{0}, wrong{0};
  {
    auto stub = Connect(child.port);
    grpc::ClientContext ctx;
    auto stream = stub->IngestStream(&ctx);
    std::thread reader([&] {
      v1::IngestReply rep;
      while (stream->Read(&rep)) {
        if (rep.accepted() != kBatch) ++wrong;
        ++acked;
      }
    });
    // Keep writing; kill the server in the middle of the stream once enough batches are acknowledged.
    for (int b = 0; b < 100000; ++b) {
      if (acked >= 40 && kill(child.pid, SIGKILL) == 0) break;
      if (!stream->Write(NumberedBatch(b, kBatch))) break;
    }
    int status = 0;
    waitpid(child.pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    stream->WritesDone();
    reader.join();
    stream->Finish();
  }
  const int acknowledged = acked.load();
  CHECK(wrong == 0);
  REQUIRE(acknowledged >= 40);

  Child restarted = Spawn(data);
  REQUIRE(restarted.port > 0);
  auto stub = Connect(restarted.port);
  CHECK(Stats(stub.get()).events() >= static_cast<uint64_t>(acknowledged) * kBatch);
  // Every acknowledged event is stored: re-sending them with their event_ids stores nothing new.
  for (int b = 0; b < acknowledged; ++b) {
    v1::IngestReply rep;
    REQUIRE(Ingest(stub.get(), NumberedBatch(b, kBatch), &rep).ok());
    CHECK(rep.accepted() == 0);
    CHECK(rep.duplicates() == kBatch);
  }
  // SIGTERM: graceful exit with status 0.
  REQUIRE(kill(restarted.pid, SIGTERM) == 0);
  int status = 0;
  waitpid(restarted.pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
