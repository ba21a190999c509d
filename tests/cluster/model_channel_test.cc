// cluster/model_channel.h against a REAL 3-node NATS cluster: the trainer lease is held by one channel at a time
// and taken over only after its holder stopped renewing (the bucket's TTL); a publication round-trips through
// its chunks with the size and checksum checked; a non-holder or a stale head revision publishes nothing; the
// previous version's chunks are purged once the head moved.
#include <catch2/catch.hpp>

#include <random>

#include "cluster/model_channel.h"
#include "tests/cluster/nats_cluster.h"
#include "tests/common/temp_dir.h"
#include "tests/faults/server_child.h"

namespace gpt4rec::cluster_test {
namespace {

using faults::PollUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("model channel: head text round-trips; malformed heads are refused", "[cluster]") {
  cluster::ModelHead h;
  h.version = 7;
  h.segment = 3;
  h.bytes = 600000;
  h.chunks = 3;
  h.checksum = cluster::Fnv1a64("abc");
  const std::string text = cluster::FormatHead(h);
  CHECK(text == "v1 version=7 segment=3 bytes=600000 chunks=3 fnv1a64=e71fa2190541574b");
  auto back = cluster::ParseHead(text);
  REQUIRE(back.ok());
  CHECK(back->version == 7);
  CHECK(back->segment == 3);
  CHECK(back->bytes == 600000);
  CHECK(back->chunks == 3);
  CHECK(back->checksum == h.checksum);
  CHECK(cluster::Fnv1a64("") == 0xcbf29ce484222325ull);
  for (const char* bad : {"", "v2 version=7 segment=3 bytes=1 chunks=1 fnv1a64=00",
                          "v1 version=x segment=3 bytes=1 chunks=1 fnv1a64=00",
                          "v1 segment=3 version=7 bytes=1 chunks=1 fnv1a64=00",
                          "v1 version=7 segment=3 bytes=1 chunks=1"}) {
    INFO(bad);
    CHECK_FALSE(cluster::ParseHead(bad).ok());
  }
}

TEST_CASE("model channel: one lease holder at a time, taken over after the TTL; publications checked and replaced",
          "[cluster]") {
  testing::TempDir dir{"gpt4rec-channel"};
  NatsCluster nats(dir / "nats", 3);
  for (int i = 0; i < 3; ++i) REQUIRE(nats.Start(i));
  auto servers = cluster::ParseServers(nats.Urls());
  REQUIRE(servers.ok());
  auto open = [&](const std::string& holder) {
    cluster::ModelChannelOptions o;
    o.log.servers = *servers;
    o.log.stream = "CHAN";
    o.log.replicas = 3;
    o.lease_ttl_ms = 1500;
    o.holder = holder;
    auto c = cluster::ModelChannel::Open(o);
    REQUIRE(c.ok());
    return std::move(*c);
  };
  auto a = open("a");
  auto b = open("b");
  REQUIRE(PollUntil([&] { return a->TryAcquire(); }, seconds(30)));  // the buckets are created on first use
  CHECK(a->holds());
  CHECK_FALSE(b->TryAcquire());
  CHECK_FALSE(b->holds());

  std::string bytes(600 << 10, '\0');  // 3 chunks of at most 256 KiB
  std::mt19937 rng(1);
  for (auto& c : bytes) c = static_cast<char>(rng());
  auto none = a->Head();
  REQUIRE(none.ok());
  CHECK(none->version == 0);
  auto v1 = a->Publish(1, 0, bytes, none->revision);
  REQUIRE(v1.ok());
  CHECK(v1->chunks == 3);
  CHECK(b->Publish(2, 1, bytes, v1->revision).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(a->Publish(2, 1, bytes, none->revision).status().code() == absl::StatusCode::kFailedPrecondition);
  auto seen = b->Head();
  REQUIRE(seen.ok());
  CHECK(seen->version == 1);
  CHECK(seen->segment == 0);
  auto fetched = b->Fetch(*seen);
  REQUIRE(fetched.ok());
  CHECK(*fetched == bytes);
  cluster::ModelHead wrong = *seen;
  wrong.checksum ^= 1;
  CHECK(b->Fetch(wrong).status().code() == absl::StatusCode::kDataLoss);

  // The head's own version published again (a DeleteUser's erasure) replaces its bytes in place; the chunk past
  // the new count is purged, so the old head's bytes can no longer be read.
  std::string erased = bytes.substr(0, 400 << 10);
  erased[7] = static_cast<char>(erased[7] ^ 1);
  auto again = a->Publish(1, 0, erased, seen->revision);
  REQUIRE(again.ok());
  CHECK(again->version == 1);
  CHECK(again->chunks == 2);
  auto republished = b->Head();
  REQUIRE(republished.ok());
  CHECK(republished->revision == again->revision);
  CHECK(*b->Fetch(*republished) == erased);
  CHECK(b->Fetch(*seen).status().code() == absl::StatusCode::kNotFound);
  seen = republished;

  // Held while its holder renews (well past the TTL); taken over only after the holder is gone.
  const auto held_until = std::chrono::steady_clock::now() + milliseconds(3000);
  while (std::chrono::steady_clock::now() < held_until) {
    REQUIRE_FALSE(b->TryAcquire());
    b->WaitForHeadChange(200);
  }
  a.reset();  // stops renewing, as a killed trainer does
  const auto gone = std::chrono::steady_clock::now();
  REQUIRE(PollUntil([&] { return b->TryAcquire(); }, seconds(20)));
  CHECK(std::chrono::steady_clock::now() - gone >= milliseconds(300));  // the lease lasted until it expired
  auto v2 = b->Publish(2, 1, "small", seen->revision);
  REQUIRE(v2.ok());
  CHECK(v2->chunks == 1);
  CHECK(b->Fetch(*seen).status().code() == absl::StatusCode::kNotFound);  // version 1's chunks were purged
  auto head = b->Head();
  REQUIRE(head.ok());
  CHECK(head->version == 2);
  CHECK(*b->Fetch(*head) == "small");
}

}  // namespace
}  // namespace gpt4rec::cluster_test
