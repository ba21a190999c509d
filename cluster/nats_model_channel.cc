// ModelChannel on libnats 3.4's key-value API (js_CreateKeyValue, kvStore_Create/Update/Get/Put/Purge,
// kvStore_Watch). Format of the buckets: cluster/model_channel.h.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster/model_channel.h"
#include "cluster/nats_connection.h"
#include "util/fnv1a.h"

namespace gpt4rec::cluster {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunkBytes = 256 << 10;  // under NATS's default 1 MiB max payload
constexpr const char* kLeaseKey = "trainer";
constexpr const char* kHeadKey = "head";

std::string ChunkKey(uint64_t version, uint32_t i) { return absl::StrCat("chunk.", version, ".", i); }

class NatsModelChannel final : public ModelChannel {
 public:
  explicit NatsModelChannel(ModelChannelOptions options) : options_(std::move(options)) {}
  ~NatsModelChannel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (renewer_.joinable()) renewer_.join();
    if (watcher_) {
      kvWatcher_Stop(watcher_);
      kvWatcher_Destroy(watcher_);
    }
    if (lease_) kvStore_Destroy(lease_);
    if (model_) kvStore_Destroy(model_);
    if (js_) jsCtx_Destroy(js_);
    if (nc_) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
  }

  absl::Status Connect() {
    if (absl::Status s = ConnectNats(options_.log, &nc_, &js_); !s.ok()) return s;
    renewer_ = std::thread([this] { RenewLoop(); });
    return absl::OkStatus();
  }

  bool TryAcquire() override {
    if (holds()) return true;
    if (!EnsureBuckets().ok()) return false;
    uint64_t rev = 0;
    const std::string& me = options_.holder;
    natsStatus s = kvStore_Create(&rev, lease_, kLeaseKey, me.data(), static_cast<int>(me.size()));
    if (s != NATS_OK) return false;  // held by another replica (or NATS unreachable)
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = true;
      lease_revision_ = rev;
      renewed_at_ = Clock::now();
    }
    cv_.notify_all();
    return true;
  }

  bool holds() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

  absl::StatusOr<ModelHead> Head() override {
    if (absl::Status s = EnsureBuckets(); !s.ok()) return s;
    kvEntry* e = nullptr;
    natsStatus s = kvStore_Get(&e, model_, kHeadKey);
    if (s == NATS_NOT_FOUND) return ModelHead{};
    if (s != NATS_OK) return FromNats(s, static_cast<jsErrCode>(0), "model head");
    auto head = ParseHead(std::string(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)));
    if (head.ok()) head->revision = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return head;
  }

  absl::StatusOr<std::string> Fetch(const ModelHead& head) override {
    if (absl::Status s = EnsureBuckets(); !s.ok()) return s;
    std::string bytes;
    bytes.reserve(head.bytes);
    for (uint32_t i = 0; i < head.chunks; ++i) {
      kvEntry* e = nullptr;
      natsStatus s = kvStore_Get(&e, model_, ChunkKey(head.version, i).c_str());
      if (s == NATS_NOT_FOUND) {
        return absl::NotFoundError(absl::StrCat("model version ", head.version, " chunk ", i, " is gone"));
      }
      if (s != NATS_OK) return FromNats(s, static_cast<jsErrCode>(0), "model chunk");
      bytes.append(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
      kvEntry_Destroy(e);
    }
    if (bytes.size() != head.bytes || Fnv1a64(bytes) != head.checksum) {
      return absl::DataLossError(absl::StrCat("model version ", head.version, ": ", bytes.size(), " bytes of ",
                                              head.bytes, ", or the checksum differs"));
    }
    return bytes;
  }

  absl::StatusOr<ModelHead> Publish(uint64_t version, int64_t segment, std::string_view bytes,
                                    uint64_t expected_revision) override {
    if (!holds()) return absl::FailedPreconditionError("not holding the trainer lease");
    auto old = Head();
    if (!old.ok()) return old.status();
    if (old->revision != expected_revision) {
      return absl::FailedPreconditionError(absl::StrCat("the model head moved to version ", old->version,
                                                        " meanwhile (another trainer)"));
    }
    ModelHead head;
    head.version = version;
    head.segment = segment;
    head.bytes = bytes.size();
    head.chunks = static_cast<uint32_t>((bytes.size() + kChunkBytes - 1) / kChunkBytes);
    head.checksum = Fnv1a64(bytes);
    for (uint32_t i = 0; i < head.chunks; ++i) {
      const std::string_view chunk = bytes.substr(i * kChunkBytes, kChunkBytes);
      natsStatus s = kvStore_Put(nullptr, model_, ChunkKey(version, i).c_str(), chunk.data(),
                                 static_cast<int>(chunk.size()));
      if (s != NATS_OK) return FromNats(s, static_cast<jsErrCode>(0), "model chunk");
    }
    // Still the trainer? (a renewal now: a lease lost while training publishes nothing)
    if (!Renew()) return absl::FailedPreconditionError("the trainer lease was lost before publishing");
    const std::string text = FormatHead(head);
    uint64_t rev = 0;
    natsStatus s = expected_revision == 0
                       ? kvStore_Create(&rev, model_, kHeadKey, text.data(), static_cast<int>(text.size()))
                       : kvStore_Update(&rev, model_, kHeadKey, text.data(), static_cast<int>(text.size()),
                                        expected_revision);
    if (s != NATS_OK) {
      return absl::FailedPreconditionError(
          absl::StrCat("moving the model head: ", natsStatus_GetText(s), " (another trainer moved it?)"));
    }
    head.revision = rev;
    // The previous version's chunks; publishing the same version again (erasure) overwrote its chunks in place
    // (History 1 keeps only the new values), so only those past the new count go.
    const uint32_t kept = old->version == version ? head.chunks : 0;
    for (uint32_t i = kept; i < old->chunks; ++i) (void)kvStore_Purge(model_, ChunkKey(old->version, i).c_str(), nullptr);
    return head;
  }

  bool WaitForHeadChange(int timeout_ms) override {
    if (watcher_ == nullptr) {
      if (!EnsureBuckets().ok()) {
        Pause(std::min(timeout_ms, 200));
        return false;
      }
      kvWatchOptions wo;
      kvWatchOptions_Init(&wo);
      wo.IgnoreDeletes = true;
      if (kvStore_Watch(&watcher_, model_, kHeadKey, &wo) != NATS_OK) {
        watcher_ = nullptr;
        Pause(std::min(timeout_ms, 200));
        return false;
      }
    }
    kvEntry* e = nullptr;
    natsStatus s = kvWatcher_Next(&e, watcher_, timeout_ms);
    if (s == NATS_OK && e != nullptr) {
      kvEntry_Destroy(e);
      return true;
    }
    if (s != NATS_OK && s != NATS_TIMEOUT) {  // e.g. the connection was lost: watch again next time
      kvWatcher_Destroy(watcher_);
      watcher_ = nullptr;
    }
    return false;
  }

 private:
  absl::Status EnsureBuckets() {
    std::lock_guard<std::mutex> lock(buckets_mu_);
    if (lease_ && model_) return absl::OkStatus();
    if (!lease_) {
      if (absl::Status s = OpenBucket(options_.log.stream + "_LEASE", options_.lease_ttl_ms, &lease_); !s.ok())
        return s;
    }
    return OpenBucket(options_.log.stream + "_MODEL", 0, &model_);
  }

  absl::Status OpenBucket(const std::string& name, int ttl_ms, kvStore** out) {
    if (js_KeyValue(out, js_, name.c_str()) == NATS_OK) return absl::OkStatus();
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = name.c_str();
    cfg.History = 1;
    cfg.Replicas = options_.log.replicas;
    cfg.TTL = static_cast<int64_t>(ttl_ms) * 1000000;  // the stream's MaxAge, in nanoseconds
    natsStatus s = js_CreateKeyValue(out, js_, &cfg);
    if (s != NATS_OK) s = js_KeyValue(out, js_, name.c_str());  // created by another replica meanwhile
    if (s != NATS_OK) {
      *out = nullptr;
      return FromNats(s, static_cast<jsErrCode>(0), absl::StrCat("key-value bucket ", name));
    }
    return absl::OkStatus();
  }

  // kvStore_Update on the lease's last revision. False: lost (another holder, or not renewed within the TTL).
  bool Renew() {
    // One renewal at a time: Publish renews while the renewer thread may, and two updates on the same last
    // revision would make one of them fail as if the lease were lost (a spurious "lease lost before publishing").
    std::lock_guard<std::mutex> serial(renew_mu_);
    uint64_t last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!held_) return false;
      last = lease_revision_;
    }
    uint64_t rev = 0;
    const std::string& me = options_.holder;
    natsStatus s = kvStore_Update(&rev, lease_, kLeaseKey, me.data(), static_cast<int>(me.size()), last);
    bool gone = false;
    if (s != NATS_OK) {
      // Refused because the key expired or another replica holds it now, or unanswered: look at the key.
      kvEntry* e = nullptr;
      natsStatus g = kvStore_Get(&e, lease_, kLeaseKey);
      if (g == NATS_NOT_FOUND) gone = true;
      if (g == NATS_OK) {
        gone = std::string_view(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)) != me;
        kvEntry_Destroy(e);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (s == NATS_OK) {
      lease_revision_ = rev;
      renewed_at_ = Clock::now();
      return true;
    }
    // Not renewed for most of the TTL: it must be assumed expired even when NATS did not say so.
    if (gone || Clock::now() - renewed_at_ > std::chrono::milliseconds(options_.lease_ttl_ms * 4 / 5)) held_ = false;
    return false;
  }

  void RenewLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(std::max(50, options_.lease_ttl_ms / 3)));
      if (stopping_ || !held_) continue;
      lock.unlock();
      (void)Renew();
      lock.lock();
    }
  }

  ModelChannelOptions options_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex buckets_mu_;
  kvStore* lease_ = nullptr;
  kvStore* model_ = nullptr;
  kvWatcher* watcher_ = nullptr;  // the caller of WaitForHeadChange's only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool stopping_ = false;
  uint64_t lease_revision_ = 0;
  Clock::time_point renewed_at_;
  std::mutex renew_mu_;  // serialises Renew()
  std::thread renewer_;
};

}  // namespace

uint64_t Fnv1a64(std::string_view data) { return util::Fnv1a64Of(data); }

std::string FormatHead(const ModelHead& head) {
  char sum[17];
  std::snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(head.checksum));
  return absl::StrCat("v1 version=", head.version, " segment=", head.segment, " bytes=", head.bytes,
                      " chunks=", head.chunks, " fnv1a64=", sum);
}

absl::StatusOr<ModelHead> ParseHead(const std::string& text) {
  std::vector<std::string> fields = absl::StrSplit(text, ' ');
  if (fields.size() != 6 || fields[0] != "v1") return absl::DataLossError(absl::StrCat("model head: ", text));
  ModelHead h;
  // The value of fields[i] when it is named `name`.
  auto value = [&](size_t i, const std::string& name, std::string* out) {
    if (fields[i].compare(0, name.size() + 1, name + "=") != 0) return false;
    *out = fields[i].substr(name.size() + 1);
    return true;
  };
  std::string v[5];
  const bool ok = value(1, "version", &v[0]) && absl::SimpleAtoi(v[0], &h.version) &&
                  value(2, "segment", &v[1]) && absl::SimpleAtoi(v[1], &h.segment) &&
                  value(3, "bytes", &v[2]) && absl::SimpleAtoi(v[2], &h.bytes) &&
                  value(4, "chunks", &v[3]) && absl::SimpleAtoi(v[3], &h.chunks) &&
                  value(5, "fnv1a64", &v[4]) && absl::SimpleHexAtoi(v[4], &h.checksum);
  if (!ok) return absl::DataLossError(absl::StrCat("model head: ", text));
  return h;
}

absl::StatusOr<std::unique_ptr<ModelChannel>> ModelChannel::Open(const ModelChannelOptions& options) {
  if (options.log.servers.empty()) return absl::InvalidArgumentError("model channel: no NATS server given");
  if (options.lease_ttl_ms < 100) return absl::InvalidArgumentError("trainer lease TTL: at least 100 ms");
  auto channel = std::make_unique<NatsModelChannel>(options);
  if (absl::Status s = channel->Connect(); !s.ok()) return s;
  return std::unique_ptr<ModelChannel>(std::move(channel));
}

}  // namespace gpt4rec::cluster
