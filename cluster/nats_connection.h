// cluster/ internal: the NATS connection both halves of cluster mode open (event log, model channel), and the
// status mapping. Not part of the module's contract (event_log.h, model_channel.h).
#pragma once

#include <nats/nats.h>

#include <string>

#include "absl/status/status.h"
#include "cluster/event_log.h"

namespace gpt4rec::cluster {

absl::Status FromNats(natsStatus s, jsErrCode jerr, const std::string& what);
// Between retries of a failed step, so a NATS outage does not spin a core.
void Pause(int ms);
// Connects to options.servers (reconnecting forever, also when the first connect fails) and opens a JetStream
// context whose requests wait up to options.publish_timeout_ms.
absl::Status ConnectNats(const LogOptions& options, natsConnection** nc, jsCtx** js);

}  // namespace gpt4rec::cluster
