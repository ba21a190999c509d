// cluster/ — the replicated event log of cluster mode, on a NATS JetStream stream. With model_channel.h (the
// trainer lease and the published model) this header is the module's whole contract.
//
// Knows nothing of gRPC, protobuf, storage or the model: an entry is opaque bytes with a stream sequence.
// JetStream does the hard parts (RAFT replication across the NATS cluster, ordering, de-duplication of a
// retried publish by its message id); this module only publishes, follows the stream in order, and reports.
// Errors are absl::Status; nothing here throws across the boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::cluster {

struct LogOptions {
  std::vector<std::string> servers;  // "nats://host:port", any members of the NATS cluster
  std::string stream = "GPT4REC";    // created on first use when missing (its configuration is then as below)
  std::string subject;               // empty: "<stream>.log"
  int replicas = 3;                  // JetStream replication factor of the stream
  // How long JetStream remembers a message id: a publish retried within it is stored once.
  int64_t duplicate_window_ms = 120000;
  int64_t max_age_s = 0;             // retention by age (0: keep every entry; see README "More than one machine")
  int64_t max_bytes = -1;            // retention by size (-1: unlimited)
  // A publish retries (same message id, so stored at most once) until acknowledged or this long has passed.
  int publish_timeout_ms = 5000;
  std::string credentials_file;      // NATS .creds (JWT + nkey); empty: none
  std::string ca_file;               // PEM CA: TLS to NATS; empty: plaintext
  std::string client_name = "gpt4rec";
};

// Splits "nats://a:1,b:2" (scheme optional per member) into LogOptions::servers' form.
absl::StatusOr<std::vector<std::string>> ParseServers(const std::string& urls);

// A message id derived from the entry's bytes (128-bit, hex): a retried publish of the same entry is stored once.
std::string MessageIdOf(std::string_view payload);

struct Published {
  uint64_t sequence = 0;   // the entry's stream sequence
  bool duplicate = false;  // JetStream had it already (a retry within the duplicate window)
};

// Called for each entry in stream order. A non-OK status: the same entry is offered again (after a pause), so
// the caller's store never skips one.
using ApplyFn = std::function<absl::Status(uint64_t sequence, std::string_view payload)>;

class EventLog {
 public:
  // Connects (and keeps reconnecting in the background: NATS being down at start is not an error here).
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(const LogOptions& options);
  virtual ~EventLog() = default;

  // Returns once the stream's leader has the entry replicated to a quorum (JetStream's ack). UNAVAILABLE when
  // no ack came within publish_timeout_ms: the entry may or may not be stored; a retry with the same msg_id
  // stores it at most once.
  virtual absl::StatusOr<Published> Publish(std::string_view payload, const std::string& msg_id) = 0;

  // Delivers every entry with a sequence above `after`, in order, without gaps, to `apply` on the calling
  // thread, until `stop` returns true (checked at least every 200 ms). Survives NATS node failures and
  // reconnects (it resumes after the last applied entry). Returns OK when stopped, an error only when the
  // stream no longer holds the next entry (retention went past this replica).
  virtual absl::Status Follow(uint64_t after, const ApplyFn& apply, const std::function<bool()>& stop) = 0;

  // The stream's last sequence as far as this process knows (from the last delivery or stream info).
  virtual uint64_t KnownLastSequence() const = 0;
  // Asks JetStream for the stream's last sequence now (UNAVAILABLE when unreachable).
  virtual absl::StatusOr<uint64_t> LastSequence() = 0;
  // Whether the connection to NATS is up right now.
  virtual bool connected() const = 0;
};

}  // namespace gpt4rec::cluster
