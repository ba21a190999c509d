// cluster/ — cluster mode's "one trainer at a time": the trainer lease and the published model, on two JetStream
// key-value buckets. Like event_log.h, knows nothing of gRPC, storage or the model: a published model is opaque
// bytes with a version and the segment it was trained through.
//
// Buckets (created on first use; <stream> is LogOptions::stream):
//   <stream>_LEASE  History 1, TTL = lease_ttl_ms (the bucket's MaxAge). Key "trainer" = the holder's id. Taken
//                   with kvStore_Create (only when absent or expired), renewed every lease_ttl_ms/3 with
//                   kvStore_Update(last revision); a holder that dies stops renewing, so after the TTL the key is
//                   gone and another replica's Create succeeds.
//   <stream>_MODEL  History 1, no TTL. One model version v is written as
//                     "chunk.<v>.<i>"  i = 0..chunks-1, at most 256 KiB each, the bytes in order;
//                     "head"          the version key, moved last (compare-and-set on its revision), text:
//                                     "v1 version=<v> segment=<s> bytes=<n> chunks=<c> fnv1a64=<16 hex digits>"
//                   A reader takes the head, reads the chunks of that version and checks size and FNV-1a 64 of
//                   the concatenation; the previous version's chunks are purged after the head moved. The
//                   head's own version published again (a delete's erasure) overwrites its chunks in place.
// Errors are absl::Status; nothing here throws across the boundary.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/event_log.h"

namespace gpt4rec::cluster {

struct ModelChannelOptions {
  LogOptions log;             // servers, stream (bucket prefix), replicas, credentials as the event log's
  int lease_ttl_ms = 10000;   // a dead trainer's lease expires after this long
  std::string holder;         // this replica's id in the lease (unique per process)
};

struct ModelHead {
  uint64_t version = 0;  // 0: nothing published yet
  int64_t segment = -1;  // trained through this segment
  uint64_t bytes = 0;
  uint32_t chunks = 0;
  uint64_t checksum = 0;  // FNV-1a 64 of the bytes
  uint64_t revision = 0;  // the head key's revision (0: absent)
};

// FNV-1a 64 of `data` (the publication's checksum).
uint64_t Fnv1a64(std::string_view data);
// "v1 version=..." (see above) and back.
std::string FormatHead(const ModelHead& head);
absl::StatusOr<ModelHead> ParseHead(const std::string& text);

class ModelChannel {
 public:
  static absl::StatusOr<std::unique_ptr<ModelChannel>> Open(const ModelChannelOptions& options);
  virtual ~ModelChannel() = default;

  // True when this process holds the trainer lease: taken now (the key was absent or expired) or held already
  // (renewed in the background). False when another holder has it or NATS is unreachable.
  virtual bool TryAcquire() = 0;
  virtual bool holds() const = 0;

  // The current head (version 0 when nothing is published). UNAVAILABLE when NATS is unreachable.
  virtual absl::StatusOr<ModelHead> Head() = 0;
  // The bytes of `head`'s version, checked against its size and checksum. NOT_FOUND when a newer publication
  // replaced them meanwhile (take the head again), DATA_LOSS on a checksum mismatch.
  virtual absl::StatusOr<std::string> Fetch(const ModelHead& head) = 0;
  // Publishes `bytes` as `version` trained through `segment` and moves the head to it. Only while holding the
  // lease (FAILED_PRECONDITION otherwise, or when the head moved since `expected_revision`: another trainer).
  virtual absl::StatusOr<ModelHead> Publish(uint64_t version, int64_t segment, std::string_view bytes,
                                            uint64_t expected_revision) = 0;
  // Blocks until the head key changes (a kvStore_Watch on it) or `timeout_ms` passed; true on a change.
  virtual bool WaitForHeadChange(int timeout_ms) = 0;
};

}  // namespace gpt4rec::cluster
