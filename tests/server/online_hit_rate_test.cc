// Online (prequential) hit rate: the bounded table of last served lists on its own (window, cap, versions,
// memory per entry, cost per event), then a real server: lists served, events of which a known subset is in
// them, exact counts in GetStats and /metrics.
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "server/online_hit_rate.h"
#include "server/test_support.h"
#include "tests/common/http_get.h"
#include "tests/common/temp_dir.h"
#include "tests/server/server_fixture.h"

using namespace gpt4rec::testing;
using gpt4rec::server::OnlineHitRate;

namespace {

using Pairs = std::vector<std::pair<std::string_view, std::string_view>>;

std::vector<std::string_view> Views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::vector<std::string> Items(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

uint8_t RankOf(const OnlineHitRate& table, const std::string& user, const std::string& item) {
  auto v = table.Test(Pairs{{user, item}});
  return v.empty() ? OnlineHitRate::kUntracked : v[0].rank;
}

size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

}  // namespace

TEST_CASE("online table: ranks, window, least recently served forgotten past the cap, erase") {
  int64_t now = 0;
  OnlineHitRate table(3, /*window_ms=*/1000, nullptr, [&now] { return now; });
  const auto list = Items("i", 25);  // only the first 20 are kept
  table.RecordServed("a", Views(list), 1);
  CHECK(RankOf(table, "a", "i0") == 1);
  CHECK(RankOf(table, "a", "i9") == 10);
  CHECK(RankOf(table, "a", "i19") == 20);
  CHECK(RankOf(table, "a", "i20") == 0);  // served, but past the depth kept
  CHECK(RankOf(table, "a", "zz") == 0);
  CHECK(RankOf(table, "b", "i0") == OnlineHitRate::kUntracked);

  // Window: counted up to window_ms after serving, not after.
  now = 1000;
  CHECK(RankOf(table, "a", "i0") == 1);
  now = 1001;
  CHECK(RankOf(table, "a", "i0") == OnlineHitRate::kUntracked);

  // Cap 3: the least recently served user is forgotten; serving again refreshes recency and replaces the list.
  now = 2000;
  table.RecordServed("a", Views(Items("a", 3)), 1);  // the expired entry is replaced
  table.RecordServed("b", Views(Items("b", 3)), 1);
  table.RecordServed("c", Views(Items("c", 3)), 1);
  table.RecordServed("a", Views(Items("A", 3)), 2);
  table.RecordServed("d", Views(Items("d", 3)), 2);  // full: b (least recently served) goes
  CHECK(table.Snapshot().tracked_users == 3);
  CHECK(RankOf(table, "b", "b0") == OnlineHitRate::kUntracked);
  CHECK(RankOf(table, "a", "a0") == 0);   // the old list of a is gone
  CHECK(RankOf(table, "a", "A1") == 2);
  CHECK(table.Test(Pairs{{"a", "A0"}})[0].version == 2);
  CHECK(RankOf(table, "c", "c2") == 3);
  CHECK(RankOf(table, "d", "d0") == 1);

  table.Erase("c");
  CHECK(RankOf(table, "c", "c2") == OnlineHitRate::kUntracked);
  CHECK(table.Snapshot().tracked_users == 2);
  table.RecordServed("e", Views(Items("e", 3)), 2);  // reuses the erased slot
  CHECK(table.Snapshot().tracked_users == 3);
  CHECK(RankOf(table, "a", "A0") == 1);
  CHECK(RankOf(table, "d", "d0") == 1);
  CHECK(RankOf(table, "e", "e0") == 1);

  // Expired entries leave once a later list is recorded.
  now = 10000;
  table.RecordServed("f", Views(Items("f", 3)), 2);
  CHECK(table.Snapshot().tracked_users == 1);

  // A table with cap 0 keeps nothing.
  OnlineHitRate off(0, 1000, nullptr, [&now] { return now; });
  off.RecordServed("a", Views(list), 1);
  CHECK(off.Test(Pairs{{"a", "i0"}}).empty());
}

TEST_CASE("online counts: stored events only, by k and by version, the last 16 versions kept") {
  int64_t now = 0;
  OnlineHitRate table(100, 1000, nullptr, [&now] { return now; });
  table.RecordServed("a", Views(Items("i", 20)), 3);
  table.RecordServed("b", Views(Items("i", 5)), 4);  // a short list: counts as served
  const Pairs batch = {{"a", "i0"}, {"a", "i12"}, {"a", "x"}, {"b", "i4"}, {"b", "i7"}, {"c", "i0"}, {"a", "i1"}};
  auto verdicts = table.Test(batch);
  REQUIRE(verdicts.size() == batch.size());
  // The last event was not stored (a repeated event_id): not counted.
  table.Count(verdicts, {true, true, true, true, true, true, false});
  auto snap = table.Snapshot();
  CHECK(snap.total.events == 5);
  CHECK(snap.total.hits_at_10 == 2);  // a:i0, b:i4
  CHECK(snap.total.hits_at_20 == 3);  // + a:i12
  REQUIRE(snap.by_version.size() == 2);
  CHECK(snap.by_version[0].first == 3);
  CHECK(snap.by_version[0].second.events == 3);
  CHECK(snap.by_version[0].second.hits_at_10 == 1);
  CHECK(snap.by_version[0].second.hits_at_20 == 2);
  CHECK(snap.by_version[1].first == 4);
  CHECK(snap.by_version[1].second.events == 2);
  CHECK(snap.by_version[1].second.hits_at_10 == 1);
  CHECK(snap.by_version[1].second.hits_at_20 == 1);
  // No tracked user in a batch: nothing to count, no verdicts.
  CHECK(table.Test(Pairs{{"c", "i0"}, {"d", "i1"}}).empty());

  for (uint64_t v = 5; v <= 30; ++v) {
    table.RecordServed("a", Views(Items("i", 20)), v);
    table.Count(table.Test(Pairs{{"a", "i0"}}), {true});
  }
  snap = table.Snapshot();
  REQUIRE(snap.by_version.size() == OnlineHitRate::kVersionsKept);
  CHECK(snap.by_version.front().first == 30 - OnlineHitRate::kVersionsKept + 1);
  CHECK(snap.by_version.back().first == 30);
  CHECK(snap.total.events == 5 + 26);
}

TEST_CASE("online table: memory per tracked user and cost per ingested event") {
  constexpr size_t kUsers = 50000;
  std::vector<std::string> users;
  for (size_t u = 0; u < kUsers; ++u) users.push_back("user-" + std::to_string(u));
  const auto list = Items("item-", 20);
  const size_t before = HeapInUse();
  size_t filled;
  {
    OnlineHitRate table(kUsers, 3600 * 1000, nullptr);
    for (const auto& u : users) table.RecordServed(u, Views(list), 1);
    filled = HeapInUse();
    const double per_entry = static_cast<double>(filled - before) / kUsers;
    std::printf("online table: %.1f heap bytes per tracked user measured (BytesPerEntry() = %zu)\n", per_entry,
                OnlineHitRate::BytesPerEntry());
    CHECK(per_entry <= 1.1 * OnlineHitRate::BytesPerEntry());
    CHECK(per_entry >= 0.8 * OnlineHitRate::BytesPerEntry());
    // Past the cap nothing grows.
    for (size_t u = 0; u < kUsers; ++u) table.RecordServed("other-" + std::to_string(u), Views(list), 1);
    CHECK(table.Snapshot().tracked_users == kUsers);
    CHECK(HeapInUse() <= filled + 4096);

    // Cost of the test and count steps per ingested event (batches of 1000, every user tracked).
    std::mt19937 rng(1);
    Pairs batch;
    std::vector<std::string> batch_users, batch_items;
    for (int i = 0; i < 1000; ++i) {
      batch_users.push_back("other-" + std::to_string(rng() % kUsers));
      batch_items.push_back("item-" + std::to_string(rng() % 40));
    }
    for (int i = 0; i < 1000; ++i) batch.emplace_back(batch_users[i], batch_items[i]);
    const std::vector<bool> stored(batch.size(), true);
    const auto t0 = std::chrono::steady_clock::now();
    constexpr int kRounds = 200;
    for (int r = 0; r < kRounds; ++r) table.Count(table.Test(batch), stored);
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
                      (kRounds * batch.size());
    std::printf("online table: %.0f ns per ingested event (test + count, %zu users tracked)\n", ns, kUsers);
    const auto snap = table.Snapshot();
    CHECK(snap.total.events == kRounds * batch.size());
    CHECK(snap.total.hits_at_20 > 0);
    CHECK(snap.total.hits_at_20 < snap.total.events);
  }
}

namespace {

// The value of the sample `series` (name plus labels exactly as exposed) in a Prometheus text page; -1 if absent.
double Sample(const std::string& page, const std::string& series) {
  size_t pos = 0;
  while ((pos = page.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || page[pos - 1] == '\n') return std::stod(page.substr(pos + series.size() + 1));
    pos += series.size();
  }
  return -1;
}

v1::RecommendReply Served(v1::Recommender::Stub* stub, const std::string& user, uint32_t k) {
  v1::RecommendReply rep;
  grpc::Status s = Recommend(stub, user, k, &rep);
  if (!s.ok()) throw std::runtime_error("Recommend: " + s.error_message());
  return rep;
}

// A synthetic model over every stored user and item: random rows, so lists differ per user.
gpt4rec::server::test_support::SyntheticModel RandomModel(int users, int items, unsigned seed) {
  gpt4rec::server::test_support::SyntheticModel m;
  m.dim = 8;
  m.num_users = users;
  m.num_items = items;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  m.users.resize(static_cast<size_t>(users) * m.dim);
  m.items.resize(static_cast<size_t>(items) * m.dim);
  for (auto& x : m.users) x = normal(rng);
  for (auto& x : m.items) x = normal(rng);
  return m;
}

}  // namespace

TEST_CASE("online hit rate on a live server: exact hits of served lists, test-then-learn, per version") {
  TempDir dir("server-online");
  auto options = SmallServerOptions(dir / "data");
  options.metrics_port = 0;
  options.online_max_users = 1000;
  options.online_window_s = 3600;
  auto server = StartServer(options);
  auto stub = Connect(server->port());

  // 40 items (through "seed"), users u0..u5 with one event each on i0.
  v1::IngestRequest base;
  for (int i = 0; i < 40; ++i) *base.add_events() = MakeEvent("seed", "i" + std::to_string(i), 1000 + i);
  for (int u = 0; u < 6; ++u) *base.add_events() = MakeEvent("u" + std::to_string(u), "i0", 2000 + u);
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), base, &ing).ok());
  REQUIRE(gpt4rec::server::test_support::InstallModel(*server, RandomModel(7, 40, 11), 1).ok());

  // Nothing served yet: events are not counted.
  {
    v1::IngestRequest before;
    *before.add_events() = MakeEvent("u0", "i1", 3000);
    REQUIRE(Ingest(stub.get(), before, &ing).ok());
    CHECK(Stats(stub.get()).online().events() == 0);
  }

  // Served: u0..u3 (model, k=20) and "newbie" (unknown: popular). u4, u5, "ghost" are never served.
  std::map<std::string, std::vector<std::string>> served;
  for (const std::string user : {"u0", "u1", "u2", "u3"}) {
    const auto rep = Served(stub.get(), user, 20);
    REQUIRE(rep.model_version() == 1);
    REQUIRE(rep.source() == v1::MODEL);
    REQUIRE(rep.items_size() == 20);
    served[user] = ItemIds(rep);
  }
  // The popular list is rebuilt by the refresh loop (--refresh_ms): ask until it holds the 40 ingested items.
  REQUIRE(WaitUntil([&] {
    const auto rep = Served(stub.get(), "newbie", 20);
    served["newbie"] = ItemIds(rep);
    return rep.source() == v1::POPULAR && rep.items_size() == 20;
  }));
  CHECK(Stats(stub.get()).online_tracked_users() == 5);
  auto missing = [&](const std::string& user) {  // an item not in the user's list
    for (int i = 0; i < 40; ++i) {
      const std::string id = "i" + std::to_string(i);
      if (std::find(served[user].begin(), served[user].end(), id) == served[user].end()) return id;
    }
    return std::string("brand-new-item");
  };

  // Per served user: rank 3 (hit at 10 and 20), rank 15 (hit at 20 only), one miss; newbie: rank 1.
  // Not counted: u4 (not served) on u0's first item, "ghost" (unknown, never served).
  v1::IngestRequest batch;
  int64_t ts = 4000;
  int id = 0;
  auto add = [&](const std::string& user, const std::string& item) {
    *batch.add_events() = MakeEvent(user, item, ts++, "e" + std::to_string(id++));
  };
  for (const std::string user : {"u0", "u1", "u2", "u3"}) {
    add(user, served[user][2]);
    add(user, served[user][14]);
    add(user, missing(user));
  }
  add("newbie", served["newbie"][0]);
  add("u4", served["u0"][0]);
  add("ghost", served["u0"][0]);
  REQUIRE(Ingest(stub.get(), batch, &ing).ok());
  REQUIRE(ing.accepted() == 15);
  auto stats = Stats(stub.get());
  CHECK(stats.online().events() == 13);
  CHECK(stats.online().hits_at_10() == 5);
  CHECK(stats.online().hits_at_20() == 9);
  CHECK(stats.online().hit_rate_at_10() == Approx(5.0 / 13));
  CHECK(stats.online().hit_rate_at_20() == Approx(9.0 / 13));

  // The same batch again (a producer's retry): every event a duplicate, nothing counted twice.
  REQUIRE(Ingest(stub.get(), batch, &ing).ok());
  REQUIRE(ing.duplicates() == 15);
  CHECK(Stats(stub.get()).online().events() == 13);

  // Partly repeated: u0's rank-3 event again (duplicate) beside two new events of u0, at rank 6 and a miss.
  {
    v1::IngestRequest mixed;
    *mixed.add_events() = batch.events(0);
    *mixed.add_events() = MakeEvent("u0", served["u0"][5], ts++, "e-new-1");
    *mixed.add_events() = MakeEvent("u0", missing("u0"), ts++, "e-new-2");
    REQUIRE(Ingest(stub.get(), mixed, &ing).ok());
    REQUIRE(ing.accepted() == 2);
    REQUIRE(ing.duplicates() == 1);
  }
  stats = Stats(stub.get());
  CHECK(stats.online().events() == 15);
  CHECK(stats.online().hits_at_10() == 6);
  CHECK(stats.online().hits_at_20() == 10);

  // Test-then-learn inside one batch: u5 is served, then one batch holds its first event (an item of its list)
  // and more events. Every event counts against the list served before the batch, although the batch's first
  // event folds u5 in for any later Recommend.
  const auto u5_list = ItemIds(Served(stub.get(), "u5", 10));
  REQUIRE(u5_list.size() == 10);
  {
    v1::IngestRequest b;
    *b.add_events() = MakeEvent("u5", u5_list[0], ts++);
    *b.add_events() = MakeEvent("u5", u5_list[9], ts++);
    *b.add_events() = MakeEvent("u5", u5_list[0], ts++);  // again, still a hit: the list is the one served
    REQUIRE(Ingest(stub.get(), b, &ing).ok());
  }
  stats = Stats(stub.get());
  CHECK(stats.online().events() == 18);
  CHECK(stats.online().hits_at_10() == 9);
  CHECK(stats.online().hits_at_20() == 13);
  // u5's next list was ranked after its events: none of the items it just touched (seen items are excluded).
  const auto u5_next = ItemIds(Served(stub.get(), "u5", 10));
  CHECK(std::find(u5_next.begin(), u5_next.end(), u5_list[0]) == u5_next.end());
  CHECK(std::find(u5_next.begin(), u5_next.end(), u5_list[9]) == u5_next.end());

  // A new model version: u1 is served by version 2; its hit is attributed to version 2.
  REQUIRE(gpt4rec::server::test_support::InstallModel(*server, RandomModel(8, 40, 12), 2).ok());
  const auto u1_v2 = Served(stub.get(), "u1", 20);
  REQUIRE(u1_v2.model_version() == 2);
  {
    v1::IngestRequest b;
    *b.add_events() = MakeEvent("u1", u1_v2.items(0).item_id(), ts++);
    *b.add_events() = MakeEvent("u1", u1_v2.items(19).item_id(), ts++);
    REQUIRE(Ingest(stub.get(), b, &ing).ok());
  }
  stats = Stats(stub.get());
  CHECK(stats.online().events() == 20);
  CHECK(stats.online().hits_at_10() == 10);
  CHECK(stats.online().hits_at_20() == 15);
  REQUIRE(stats.online_by_version_size() == 2);
  const auto& v1_rate = stats.online_by_version(0);
  const auto& v2_rate = stats.online_by_version(1);
  CHECK(v1_rate.model_version() == 1);
  CHECK(v1_rate.events() == 18);
  CHECK(v1_rate.hits_at_10() == 9);
  CHECK(v1_rate.hits_at_20() == 13);
  CHECK(v1_rate.hit_rate_at_20() == Approx(13.0 / 18));
  CHECK(v2_rate.model_version() == 2);
  CHECK(v2_rate.events() == 2);
  CHECK(v2_rate.hits_at_10() == 1);
  CHECK(v2_rate.hits_at_20() == 2);

  // /metrics: the same figures.
  const std::string page = HttpGet(server->metrics_port(), "/metrics");
  CHECK(Sample(page, "gpt4rec_online_events_total") == 20);
  CHECK(Sample(page, "gpt4rec_online_hits_total{k=\"10\"}") == 10);
  CHECK(Sample(page, "gpt4rec_online_hits_total{k=\"20\"}") == 15);
  CHECK(Sample(page, "gpt4rec_online_hit_rate{k=\"10\",model_version=\"1\"}") == Approx(9.0 / 18));
  CHECK(Sample(page, "gpt4rec_online_hit_rate{k=\"20\",model_version=\"1\"}") == Approx(13.0 / 18));
  CHECK(Sample(page, "gpt4rec_online_hit_rate{k=\"10\",model_version=\"2\"}") == Approx(0.5));
  CHECK(Sample(page, "gpt4rec_online_hit_rate{k=\"20\",model_version=\"2\"}") == Approx(1.0));
  CHECK(Sample(page, "gpt4rec_online_tracked_users") == 6);

  // DeleteUser forgets the list served to the user: a later event of the same id is not counted.
  {
    v1::DeleteUserReply rep;
    REQUIRE(DeleteUser(stub.get(), "u2", &rep).ok());
    REQUIRE(rep.deleted());
  }
  {
    v1::IngestRequest b;
    *b.add_events() = MakeEvent("u2", served["u2"][0], ts++);
    REQUIRE(Ingest(stub.get(), b, &ing).ok());
  }
  stats = Stats(stub.get());
  CHECK(stats.online().events() == 20);
  CHECK(stats.online_tracked_users() == 5);
  server->Shutdown();
}

TEST_CASE("online hit rate off (--online_max_users=0): nothing held, nothing counted") {
  TempDir dir("server-online-off");
  auto options = SmallServerOptions(dir / "data");
  options.online_max_users = 0;
  auto server = StartServer(options);
  auto stub = Connect(server->port());
  v1::IngestRequest base;
  for (int i = 0; i < 10; ++i) *base.add_events() = MakeEvent("seed", "i" + std::to_string(i), 1000 + i);
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), base, &ing).ok());
  std::vector<std::string> list;
  REQUIRE(WaitUntil([&] { return !(list = ItemIds(Served(stub.get(), "newbie", 5))).empty(); }));
  v1::IngestRequest b;
  *b.add_events() = MakeEvent("newbie", list[0], 2000);
  REQUIRE(Ingest(stub.get(), b, &ing).ok());
  const auto stats = Stats(stub.get());
  CHECK(stats.online().events() == 0);
  CHECK(stats.online_tracked_users() == 0);
  server->Shutdown();
}
