// build/bin/gpt4rec-server as a child process: SIGKILL during streaming ingest loses no acknowledged event;
// SIGTERM shuts down gracefully.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
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

// Starts the server binary and reads its "listening on port N" line from stdout. `epochs`: training epochs per
// segment (min = max, so a training's length is predictable).
Child Spawn(const std::string& data_dir, int epochs = 2) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  const std::string data = "--data_dir=" + data_dir;
  const std::string max_epochs = "--max_epochs=" + std::to_string(epochs);
  const std::string min_epochs = "--min_epochs=" + std::to_string(epochs);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(GPT4REC_SERVER_BIN, GPT4REC_SERVER_BIN, "--addr=127.0.0.1:0", data.c_str(), "--metrics_port=-1",
          "--segment=manual", "--log_level=warn", "--dim=16", "--views=2", max_epochs.c_str(), min_epochs.c_str(),
          "--batch_size=64", "--threads=1", static_cast<char*>(nullptr));
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

// Polls GetStats until the trainer is busy with a segment (or the deadline passes).
bool WaitUntilTraining(v1::Recommender::Stub* stub, std::chrono::seconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (Stats(stub).training_now()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

int TerminateAndWait(pid_t pid, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = 0;
  waitpid(pid, &status, 0);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return status;
}

TEST_CASE("SIGTERM during training stops it, exits 0, and the segment trains again after a restart") {
  TempDir dir("server-sigterm-training");
  const std::string data = dir / "data";
  // 400 epochs of ~20k edges in batches of 64 on one thread: minutes, far longer than the test waits.
  constexpr int kEpochs = 400;
  Child child = Spawn(data, kEpochs);
  REQUIRE(child.port > 0);
  {
    auto stub = Connect(child.port);
    for (int b = 0; b < 40; ++b) {
      v1::IngestReply rep;
      REQUIRE(Ingest(stub.get(), NumberedBatch(b, 500), &rep).ok());
    }
    v1::CloseSegmentReply close;
    REQUIRE(CloseSegment(stub.get(), &close).ok());
    REQUIRE(WaitUntilTraining(stub.get(), std::chrono::seconds(60)));
  }
  double seconds = 0;
  int status = TerminateAndWait(child.pid, &seconds);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(seconds < 10.0);  // interrupted before its next batch, not after hundreds of epochs

  // The interrupted segment left no model behind and is queued again: training restarts by itself.
  Child restarted = Spawn(data, kEpochs);
  REQUIRE(restarted.port > 0);
  {
    auto stub = Connect(restarted.port);
    CHECK(Stats(stub.get()).model_version() == 0);
    CHECK(Stats(stub.get()).closed_segments() == 1);
    CHECK(WaitUntilTraining(stub.get(), std::chrono::seconds(60)));
  }
  status = TerminateAndWait(restarted.pid, &seconds);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
