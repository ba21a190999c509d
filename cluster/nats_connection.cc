#include "cluster/nats_connection.h"

#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gpt4rec::cluster {
namespace {

// With a connected-callback, a first connect that fails returns at once and retries in the background (without
// one, natsConnection_Connect would block until a server answers).
void OnConnected(natsConnection*, void*) {}

}  // namespace

absl::Status FromNats(natsStatus s, jsErrCode jerr, const std::string& what) {
  std::string text = absl::StrCat(what, ": ", natsStatus_GetText(s));
  if (jerr != 0) absl::StrAppend(&text, " (JetStream error ", static_cast<int>(jerr), ")");
  return absl::UnavailableError(text);
}

void Pause(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

absl::Status ConnectNats(const LogOptions& options, natsConnection** nc, jsCtx** js) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> servers;
  for (const auto& url : options.servers) servers.push_back(url.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, options.client_name.c_str());
  // Never give up reconnecting; a failed first connect keeps retrying in the background too, so a replica
  // starts (and serves reads from its store) while NATS is down.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, OnConnected, nullptr);
  // A dead server is noticed within ~2 s rather than the default 4 minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK && !options.credentials_file.empty())
    s = natsOptions_SetUserCredentialsFromFiles(opts, options.credentials_file.c_str(), nullptr);
  if (s == NATS_OK && !options.ca_file.empty()) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(opts, options.ca_file.c_str());
  }
  if (s == NATS_OK) {
    s = natsConnection_Connect(nc, opts);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;  // retrying in the background
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.publish_timeout_ms;
  if (s == NATS_OK) s = natsConnection_JetStream(js, *nc, &jo);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return FromNats(s, static_cast<jsErrCode>(0), "connecting to NATS");
  return absl::OkStatus();
}

}  // namespace gpt4rec::cluster
