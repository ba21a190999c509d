// Cluster mode's log entries: what a replica publishes is what every replica decodes, and bytes that are not
// an entry are refused (the applier then records the position and skips it alike everywhere).
#include <catch2/catch.hpp>

#include "server/log_entry.h"

using gpt4rec::server::DecodeLogEntry;
using gpt4rec::server::EncodeLogEntry;
using gpt4rec::server::LogEntry;

TEST_CASE("log entries round-trip and malformed bytes are refused", "[server]") {
  LogEntry events;
  gpt4rec::storage::Event e;
  e.user_id = "u\xc3\xa9";
  e.item_id = std::string(256, 'i');
  e.timestamp = 1700000000;
  e.event_type = -3;
  e.weight = 0.25f;
  e.event_id = "id-1";
  events.events = {e, e};
  events.events[1].event_id.clear();
  const std::string bytes = EncodeLogEntry(events);
  auto back = DecodeLogEntry(bytes);
  REQUIRE(back.ok());
  REQUIRE(back->kind == LogEntry::Kind::kEvents);
  REQUIRE(back->events.size() == 2);
  CHECK(back->events[0].user_id == e.user_id);
  CHECK(back->events[0].item_id == e.item_id);
  CHECK(back->events[0].timestamp == e.timestamp);
  CHECK(back->events[0].event_type == e.event_type);
  CHECK(back->events[0].weight == e.weight);
  CHECK(back->events[0].event_id == "id-1");
  CHECK(back->events[1].event_id.empty());

  LogEntry close;
  close.kind = LogEntry::Kind::kCloseSegment;
  close.nonce = 0x0123456789abcdefull;
  auto c = DecodeLogEntry(EncodeLogEntry(close));
  REQUIRE(c.ok());
  CHECK(c->kind == LogEntry::Kind::kCloseSegment);
  CHECK(c->nonce == close.nonce);

  LogEntry del;
  del.kind = LogEntry::Kind::kDeleteUser;
  del.user_id = "alice";
  auto d = DecodeLogEntry(EncodeLogEntry(del));
  REQUIRE(d.ok());
  CHECK(d->kind == LogEntry::Kind::kDeleteUser);
  CHECK(d->user_id == "alice");

  CHECK(absl::IsInvalidArgument(DecodeLogEntry("").status()));
  CHECK(absl::IsInvalidArgument(DecodeLogEntry("X").status()));
  CHECK(absl::IsInvalidArgument(DecodeLogEntry(bytes.substr(0, bytes.size() - 1)).status()));  // truncated
  CHECK(absl::IsInvalidArgument(DecodeLogEntry(bytes + "x").status()));                      // trailing
  // A count far beyond what the bytes could hold is refused before anything is allocated for it.
  std::string huge = "E";
  huge.append("\xff\xff\xff\x7f", 4);
  CHECK(absl::IsInvalidArgument(DecodeLogEntry(huge).status()));
}
