#include "server/cluster_replica.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/engine.h"
#include "spdlog/spdlog.h"

namespace gpt4rec::server {

absl::StatusOr<std::unique_ptr<ClusterReplica>> ClusterReplica::Start(const ServerOptions& options, Engine* engine,
                                                                       Metrics* metrics, uint64_t applied) {
  cluster::LogOptions log_options;
  auto servers = cluster::ParseServers(options.log);
  if (!servers.ok()) return servers.status();
  log_options.servers = std::move(*servers);
  log_options.stream = options.log_stream;
  log_options.replicas = options.log_replicas;
  log_options.publish_timeout_ms = options.log_publish_timeout_ms;
  log_options.max_age_s = options.log_max_age_s;
  log_options.credentials_file = options.log_credentials;
  log_options.ca_file = options.log_ca;
  auto log = cluster::EventLog::Open(log_options);
  if (!log.ok()) return log.status();
  spdlog::info("cluster mode: event log stream {} on {} (R={}), applying after entry {}", options.log_stream,
               options.log, options.log_replicas, applied);
  return std::unique_ptr<ClusterReplica>(new ClusterReplica(options, engine, metrics, applied, std::move(*log)));
}

ClusterReplica::ClusterReplica(const ServerOptions& options, Engine* engine, Metrics* metrics, uint64_t applied,
                               std::unique_ptr<cluster::EventLog> log)
    : options_(options), engine_(engine), metrics_(metrics), log_(std::move(log)), applied_(applied) {
  if (metrics_) metrics_->log_applied_sequence->Set(static_cast<double>(applied));
  applier_ = std::thread([this] { ApplyLoop(); });
  waiter_thread_ = std::thread([this] { WaiterLoop(); });
}

ClusterReplica::~ClusterReplica() { Stop(); }

void ClusterReplica::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  applied_cv_.notify_all();
  waiter_cv_.notify_all();
  if (applier_.joinable()) applier_.join();
  if (waiter_thread_.joinable()) waiter_thread_.join();
  std::multimap<uint64_t, Waiter> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(waiters_);
  }
  for (auto& [seq, w] : left) w.done(false);
}

void ClusterReplica::ApplyLoop() {
  uint64_t after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    after = applied_;
  }
  auto stop = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };
  absl::Status s = log_->Follow(
      after, [this](uint64_t seq, std::string_view payload) { return Apply(seq, payload); }, stop);
  if (!s.ok()) spdlog::error("cluster mode: this replica stopped applying the log: {}", s.ToString());
}

absl::Status ClusterReplica::Apply(uint64_t sequence, std::string_view payload) {
  Outcome out;
  auto entry = DecodeLogEntry(payload);
  if (!entry.ok()) {
    // Not an entry of this format (another writer on the subject?): skipped the same way on every replica.
    spdlog::error("log entry {} skipped: {}", sequence, entry.status().ToString());
    out.status = entry.status();
    if (absl::Status s = engine_->ApplyNothing(sequence); !s.ok()) return s;
  } else if (entry->kind == LogEntry::Kind::kEvents) {
    auto r = engine_->ApplyEvents(entry->events, sequence);
    if (!r.ok() && !absl::IsInvalidArgument(r.status())) return r.status();  // storage refused: offered again
    if (r.ok()) out.append = *r; else out.status = r.status();
  } else if (entry->kind == LogEntry::Kind::kCloseSegment) {
    auto r = engine_->ApplyCloseSegment(sequence);
    if (!r.ok() && !absl::IsFailedPrecondition(r.status())) return r.status();
    if (r.ok()) out.segment = *r; else out.status = r.status();
  } else {
    auto r = engine_->ApplyDeleteUser(entry->user_id, sequence);
    if (!r.ok()) return r.status();
    out.deleted = *r;
  }
  std::vector<std::function<void(bool)>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = sequence;
    recent_.emplace(sequence, std::move(out));
    while (recent_.size() > kRecent) recent_.erase(recent_.begin());
    auto end = waiters_.upper_bound(sequence);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second.done));
    waiters_.erase(waiters_.begin(), end);
  }
  applied_cv_.notify_all();
  if (metrics_) metrics_->log_applied_sequence->Set(static_cast<double>(sequence));
  for (auto& done : ready) done(true);
  return absl::OkStatus();
}

// Answers the min_sequence waiters whose bound passed, and refreshes the lag and connection gauges.
void ClusterReplica::WaiterLoop() {
  auto next_gauges = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    auto wake = next_gauges;
    for (const auto& [seq, w] : waiters_) wake = std::min(wake, w.deadline);
    waiter_cv_.wait_until(lock, wake);
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::function<void(bool)>> expired;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    const bool gauges = now >= next_gauges;
    const uint64_t applied = applied_;
    lock.unlock();
    for (auto& done : expired) done(false);
    if (gauges) {
      next_gauges = now + std::chrono::seconds(1);
      const bool up = log_->connected();
      if (up) (void)log_->LastSequence();  // refreshes the known last sequence
      if (metrics_) {
        metrics_->log_connected->Set(up ? 1 : 0);
        const uint64_t last = log_->KnownLastSequence();
        metrics_->log_lag->Set(static_cast<double>(last > applied ? last - applied : 0));
      }
    }
    lock.lock();
  }
}

void ClusterReplica::WhenApplied(uint64_t sequence, std::chrono::steady_clock::time_point deadline,
                                 std::function<void(bool)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (applied_ < sequence && !stopping_ && deadline > std::chrono::steady_clock::now()) {
      waiters_.emplace(sequence, Waiter{deadline, std::move(done)});
      waiter_cv_.notify_all();
      return;
    }
  }
  done(applied() >= sequence);
}

absl::StatusOr<ClusterReplica::Outcome> ClusterReplica::Write(const LogEntry& entry, uint64_t* log_sequence) {
  const std::string payload = EncodeLogEntry(entry);
  auto published = log_->Publish(payload, cluster::MessageIdOf(payload));
  if (!published.ok()) {
    if (metrics_) metrics_->ingest_log_unavailable->Increment();
    return published.status();
  }
  if (log_sequence) *log_sequence = published->sequence;
  std::unique_lock<std::mutex> lock(mu_);
  const bool applied = applied_cv_.wait_for(lock, std::chrono::milliseconds(options_.log_apply_wait_ms), [&] {
    return stopping_ || applied_ >= published->sequence;
  });
  auto it = recent_.find(published->sequence);
  if (!applied || it == recent_.end()) {
    // Durable in the log, not (yet) applied here — or applied long ago, when JetStream recognised a retry of an
    // entry it already holds: the caller answers from the entry itself.
    if (published->duplicate)
      return absl::AlreadyExistsError(absl::StrCat("entry ", published->sequence, " was stored before"));
    return absl::DeadlineExceededError(absl::StrCat("entry ", published->sequence, " not applied here within ",
                                                    options_.log_apply_wait_ms, " ms"));
  }
  return it->second;
}

absl::StatusOr<storage::AppendResult> ClusterReplica::Ingest(const std::vector<storage::Event>& events,
                                                             uint64_t* log_sequence) {
  LogEntry entry;
  entry.events = events;
  auto out = Write(entry, log_sequence);
  if (absl::IsDeadlineExceeded(out.status()) || absl::IsAlreadyExists(out.status())) {
    // Replicated, so acknowledged: the counts are the batch's own (new, or all duplicates of a stored entry).
    storage::AppendResult r;
    (absl::IsAlreadyExists(out.status()) ? r.duplicates : r.appended) = static_cast<uint32_t>(events.size());
    return r;
  }
  if (!out.ok()) return out.status();
  if (!out->status.ok()) return out->status;
  return out->append;
}

absl::StatusOr<storage::SegmentInfo> ClusterReplica::CloseSegment() {
  LogEntry entry;
  entry.kind = LogEntry::Kind::kCloseSegment;
  entry.nonce = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  auto out = Write(entry, nullptr);
  if (!out.ok()) return out.status();
  if (!out->status.ok()) return out->status;
  return out->segment;
}

absl::StatusOr<storage::DeleteResult> ClusterReplica::DeleteUser(const std::string& user_id) {
  LogEntry entry;
  entry.kind = LogEntry::Kind::kDeleteUser;
  entry.user_id = user_id;
  auto out = Write(entry, nullptr);
  // A repeat within the duplicate window: the stored entry deleted the user already.
  if (absl::IsAlreadyExists(out.status())) return storage::DeleteResult{};
  if (!out.ok()) return out.status();
  return out->deleted;
}

uint64_t ClusterReplica::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

uint64_t ClusterReplica::log_last_sequence() const { return std::max(log_->KnownLastSequence(), applied()); }

bool ClusterReplica::connected() const { return log_->connected(); }

}  // namespace gpt4rec::server
