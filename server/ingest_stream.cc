#include "server/ingest_stream.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wire_parse.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {
namespace v1 = gpt4rec::v1;
using Clock = std::chrono::steady_clock;

// One stream: read a batch, submit it, write its reply, read the next. Every StartRead/StartWrite/Finish is
// issued under mu_, and OnDone takes mu_ before deleting, so the idle reaper (another thread) and the ingest
// worker finishing a batch never race with each other or with the reactor's end.
class IngestStreamReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  IngestStreamReactor(StreamRegistry* registry, IngestSubmit submit)
      : registry_(registry), submit_(std::move(submit)) {}

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    ReadLocked();
  }

  void Reject(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    FinishLocked(std::move(status));
  }

  // Called by the reaper: ends the stream when it has waited for a batch longer than `idle`.
  void FinishIfIdle(Clock::time_point now, std::chrono::milliseconds idle) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reading_ || finished_ || now - idle_since_ < idle) return;
    spdlog::info("IngestStream idle for {} ms: closed", idle.count());
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("stream idle for more than --stream_idle_timeout_ms=", idle.count(),
                                           " ms; open a new stream to continue")));
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!ok) {  // the client closed its side (or went away): every batch it sent has been answered
        FinishLocked(grpc::Status::OK);
        return;
      }
    }
    // Outside mu_: a refused batch (RESOURCE_EXHAUSTED) calls back at once, on this thread. Nothing else touches
    // request_ until the batch is done, and no read, write or idle finish can start meanwhile (reading_ false).
    submit_(request_, [this](grpc::Status status, const v1::IngestReply& reply) { OnBatchDone(status, reply); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {
      FinishLocked(grpc::Status::OK);  // the client is gone; what it was sent stays as sent
      return;
    }
    ReadLocked();
  }

  void OnDone() override {
    registry_->Remove(this);
    { std::lock_guard<std::mutex> lock(mu_); }  // a thread still inside a locked section has left it
    delete this;
  }

 private:
  void OnBatchDone(const grpc::Status& status, const v1::IngestReply& reply) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    if (!status.ok()) {  // an invalid or refused batch ends the stream; earlier acknowledged batches stay
      FinishLocked(status);
      return;
    }
    SerializeReply(reply, &reply_);
    StartWrite(&reply_);
  }

  void ReadLocked() {
    if (finished_) return;
    reading_ = true;
    idle_since_ = Clock::now();
    StartRead(&request_);
  }

  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  StreamRegistry* const registry_;
  const IngestSubmit submit_;
  std::mutex mu_;
  bool reading_ = false;   // a read is outstanding: the stream waits for the client
  bool finished_ = false;
  Clock::time_point idle_since_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer reply_;
};

StreamRegistry::StreamRegistry(int max_streams, int idle_timeout_ms)
    : max_streams_(max_streams), idle_timeout_(std::max(0, idle_timeout_ms)) {
  if (idle_timeout_.count() > 0) reaper_ = std::thread([this] { ReapLoop(); });
}

StreamRegistry::~StreamRegistry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamRegistry::Open(IngestSubmit submit,
                                                                                 grpc::Status refused) {
  auto* stream = new IngestStreamReactor(this, std::move(submit));
  if (!refused.ok()) {
    stream->Reject(std::move(refused));
    return stream;
  }
  int open = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    open = static_cast<int>(streams_.size());
    if (max_streams_ <= 0 || open < max_streams_) {
      streams_.insert(stream);
      open = -1;
    }
  }
  if (open >= 0) {
    stream->Reject(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                absl::StrCat("too many ingest streams: ", open, " open (--max_streams=", max_streams_,
                                             "); close idle ones or retry with backoff")));
  } else {
    stream->Start();
  }
  return stream;
}

int StreamRegistry::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(streams_.size());
}

void StreamRegistry::Remove(IngestStreamReactor* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
}

void StreamRegistry::ReapLoop() {
  // Checking four times per timeout ends an idle stream between 1x and 1.25x the timeout.
  const auto period = std::max(std::chrono::milliseconds(10), idle_timeout_ / 4);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, period);
    if (stopping_) break;
    const auto now = Clock::now();
    // Under mu_: a stream cannot be removed (and deleted) while it is asked; its own lock orders the rest.
    for (IngestStreamReactor* stream : streams_) stream->FinishIfIdle(now, idle_timeout_);
  }
}

}  // namespace gpt4rec::server
