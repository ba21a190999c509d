// EventLog on the NATS C client (libnats 3.4): js_Publish with a message id for the idempotent append, an
// ordered push consumer per follower for in-order delivery (the client recreates it after a gap or missed
// heartbeats; on top of that Follow checks every sequence itself and resubscribes from the next one it needs).
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/event_log.h"
#include "cluster/nats_connection.h"

namespace gpt4rec::cluster {
namespace {

using Clock = std::chrono::steady_clock;

class NatsEventLog final : public EventLog {
 public:
  explicit NatsEventLog(LogOptions options) : options_(std::move(options)) {
    if (options_.subject.empty()) options_.subject = options_.stream + ".log";
  }
  ~NatsEventLog() override {
    if (js_) jsCtx_Destroy(js_);
    if (nc_) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
  }

  absl::Status Connect() { return ConnectNats(options_, &nc_, &js_); }

  absl::StatusOr<Published> Publish(std::string_view payload, const std::string& msg_id) override {
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.publish_timeout_ms);
    absl::Status last = absl::UnavailableError("NATS: not connected");
    while (Clock::now() < deadline) {
      if (absl::Status st = EnsureStream(); !st.ok()) {
        last = st;
        Pause(50);
        continue;
      }
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msg_id.c_str();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      po.MaxWait = std::max<int64_t>(1, std::min<int64_t>(left, 2000));
      jsPubAck* ack = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = js_Publish(&ack, js_, options_.subject.c_str(), payload.data(),
                                static_cast<int>(payload.size()), &po, &jerr);
      if (s == NATS_OK) {
        Published p{ack->Sequence, ack->Duplicate};
        jsPubAck_Destroy(ack);
        NoteLast(p.sequence);
        return p;
      }
      // Timeouts and "no responders" are what a leader election or a reconnect look like: retry, same id.
      last = FromNats(s, jerr, "publishing to JetStream");
      if (s != NATS_TIMEOUT) Pause(50);
    }
    return absl::UnavailableError(absl::StrCat("event log not acknowledged within ", options_.publish_timeout_ms,
                                               " ms: ", last.message()));
  }

  absl::Status Follow(uint64_t after, const ApplyFn& apply, const std::function<bool()>& stop) override {
    uint64_t next = after + 1;
    natsSubscription* sub = nullptr;
    auto drop = [&] {
      if (sub) natsSubscription_Destroy(sub);
      sub = nullptr;
    };
    auto last_progress = Clock::now();
    while (!stop()) {
      if (sub == nullptr) {
        if (absl::Status st = Subscribe(next, &sub); !st.ok()) {
          Pause(200);
          continue;
        }
        last_progress = Clock::now();
      }
      natsMsg* msg = nullptr;
      natsStatus s = natsSubscription_NextMsg(&msg, sub, 200);
      if (s == NATS_TIMEOUT) {
        // Idle, or a consumer the client failed to recreate: when the stream has entries we lack and nothing
        // came for a while, start over from the next one.
        if (Clock::now() - last_progress > std::chrono::seconds(3)) {
          last_progress = Clock::now();
          auto last = LastSequence();
          if (last.ok() && *last >= next) drop();
        }
        continue;
      }
      if (s != NATS_OK) {
        drop();
        Pause(100);
        continue;
      }
      jsMsgMetaData* meta = nullptr;
      uint64_t seq = 0;
      if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        seq = meta->Sequence.Stream;
        NoteLast(seq + meta->NumPending);
        jsMsgMetaData_Destroy(meta);
      }
      if (seq == 0 || seq > next) {  // not a stream message, or a gap: resubscribe from the entry we need
        natsMsg_Destroy(msg);
        drop();
        if (seq > next) {
          if (absl::Status st = CheckRetained(next); !st.ok()) return st;
        }
        continue;
      }
      if (seq < next) {  // delivered again after a consumer reset: already applied
        natsMsg_Destroy(msg);
        continue;
      }
      const std::string_view payload(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      absl::Status applied = apply(seq, payload);
      while (!applied.ok() && !stop()) {
        Pause(500);  // e.g. disk full: the store retries its recovery; the entry is offered again
        applied = apply(seq, payload);
      }
      natsMsg_Destroy(msg);
      if (!applied.ok()) break;
      next = seq + 1;
      last_progress = Clock::now();
    }
    drop();
    return absl::OkStatus();
  }

  uint64_t KnownLastSequence() const override { return known_last_.load(); }

  absl::StatusOr<uint64_t> LastSequence() override {
    if (!connected()) return absl::UnavailableError("NATS: not connected");
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), &jo, &jerr);
    if (s != NATS_OK) return FromNats(s, jerr, "stream info");
    const uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    NoteLast(last);
    return last;
  }

  bool connected() const override { return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

 private:
  void NoteLast(uint64_t seq) {
    uint64_t prev = known_last_.load();
    while (seq > prev && !known_last_.compare_exchange_weak(prev, seq)) {
    }
  }

  // Creates the stream when missing (every replica may try; JetStream answers "exists" to all but the first).
  absl::Status EnsureStream() {
    if (stream_ready_.load()) return absl::OkStatus();
    std::lock_guard<std::mutex> lock(ensure_mu_);
    if (stream_ready_.load()) return absl::OkStatus();
    if (!connected()) return absl::UnavailableError("NATS: not connected");
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {options_.subject.c_str()};
    cfg.Name = options_.stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.replicas;
    cfg.Duplicates = options_.duplicate_window_ms * 1000000;  // nanoseconds
    cfg.MaxAge = options_.max_age_s * 1000000000;
    cfg.MaxBytes = options_.max_bytes;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(nullptr, js_, &cfg, nullptr, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) return FromNats(s, jerr, "creating stream " + options_.stream);
    stream_ready_ = true;
    return absl::OkStatus();
  }

  absl::Status Subscribe(uint64_t from, natsSubscription** sub) {
    if (absl::Status st = EnsureStream(); !st.ok()) return st;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_SubscribeSync(sub, js_, options_.subject.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) {
      *sub = nullptr;
      return FromNats(s, jerr, "subscribing to the stream");
    }
    return absl::OkStatus();
  }

  // A gap that persists because retention removed entries this replica never applied.
  absl::Status CheckRetained(uint64_t next) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &jerr) != NATS_OK) return absl::OkStatus();
    const uint64_t first = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    if (first > next) {
      return absl::FailedPreconditionError(
          absl::StrCat("stream ", options_.stream, " starts at ", first, " but this replica needs entry ", next,
                       ": retention removed entries it never applied; restore it from a snapshot"));
    }
    return absl::OkStatus();
  }

  LogOptions options_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex ensure_mu_;
  std::atomic<bool> stream_ready_{false};
  std::atomic<uint64_t> known_last_{0};
};

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseServers(const std::string& urls) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(urls, ',', absl::SkipWhitespace())) {
    std::string url(part.data(), part.size());
    if (url.find("://") == std::string::npos) url = "nats://" + url;
    if (url.rfind("nats://", 0) != 0 && url.rfind("tls://", 0) != 0)
      return absl::InvalidArgumentError(absl::StrCat("--log: '", url, "' is not nats://HOST:PORT"));
    out.push_back(std::move(url));
  }
  if (out.empty()) return absl::InvalidArgumentError("--log: no NATS server given");
  return out;
}

std::string MessageIdOf(std::string_view payload) {
  // Two FNV-1a-style passes with different offsets: 128 bits, stable across builds and machines. Neither start
  // is FNV's published basis (the first is it with its last digit missing, 1469598103934665603); kept as it is:
  // an id is only compared with ids of the same bytes, and a new formula would give a batch retried across an
  // upgrade a new id, so JetStream's duplicate window would store it twice.
  uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char c : payload) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ c) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
  }
  return absl::StrCat(absl::Hex(a, absl::kZeroPad16), absl::Hex(b, absl::kZeroPad16), "-", payload.size());
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const LogOptions& options) {
  if (options.servers.empty()) return absl::InvalidArgumentError("event log: no NATS server given");
  auto log = std::make_unique<NatsEventLog>(options);
  if (absl::Status s = log->Connect(); !s.ok()) return s;
  return std::unique_ptr<EventLog>(std::move(log));
}

}  // namespace gpt4rec::cluster
