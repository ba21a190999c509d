// Checkpoint (a RocksDB checkpoint) reopens identical; DeleteUser erases the user from the graph and the files.
#include <random>

#include "tests/common/temp_dir.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;

namespace {
void FillRandom(GraphStore& store, int batches, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int b = 0; b < batches; ++b) {
    std::vector<Event> batch;
    for (int j = 0; j < 50; ++j)
      batch.push_back(Ev("user" + std::to_string(rng() % 60), "item" + std::to_string(rng() % 80),
                         1700000000 + b * 3600 + j, static_cast<int32_t>(rng() % 3), 0.5f * (rng() % 4),
                         (rng() % 2) ? "ev" + std::to_string(seed) + "-" + std::to_string(b * 100 + j) : ""));
    Append(store, batch);
  }
}
}  // namespace

TEST_CASE("a checkpoint opens as an identical store and stays independent", "[storage][checkpoint]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db", {SegmentUnit::kEvents, 300});
  FillRandom(*store, 30, 1);
  REQUIRE(store->ClosedSegments().size() == 5);
  REQUIRE(store->Checkpoint(tmp / "checkpoint").ok());
  REQUIRE(store->Checkpoint(tmp / "checkpoint").code() == absl::StatusCode::kAlreadyExists);
  {
    auto copy = OpenStore(tmp / "checkpoint", {SegmentUnit::kEvents, 300});
    RequireSameStore(*store, *copy);
  }
  const Counts before = store->GetCounts();
  FillRandom(*store, 5, 2);
  auto copy = OpenStore(tmp / "checkpoint", {SegmentUnit::kEvents, 300});
  REQUIRE(copy->GetCounts().events == before.events);
  REQUIRE(store->GetCounts().events == before.events + 250);
}

TEST_CASE("DeleteUser removes edges, events, event ids and the id, and the id leaves every file",
          "[storage][delete]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  const std::string victim = "victim-7f3a9c2e";   // distinctive bytes to search the files for
  const std::string victim_event = "evt-of-victim-51d0";
  {
    auto store = OpenStore(dir, {SegmentUnit::kEvents, 120});
    FillRandom(*store, 6, 3);
    Append(*store, {Ev(victim, "item1", 1700000000, 1, 1.0f, victim_event), Ev("user1", "item1", 1700000001),
                    Ev(victim, "item2", 1700000002), Ev(victim, "item1", 1700000003)});
    FillRandom(*store, 4, 4);
    Append(*store, {Ev(victim, "item-only-victim", 1700000100)});
    REQUIRE(store->Flush().ok());
    // Control: the scan does find the id while it is stored (so "not found" later means something).
    REQUIRE(AnyFileContains(dir, victim));
    REQUIRE(AnyFileContains(dir, victim_event));

    const uint32_t v = *store->FindUser(victim);
    const uint32_t item1 = *store->FindItem("item1"), only = *store->FindItem("item-only-victim");
    const uint32_t item1_degree = store->ItemDegree(item1);
    const Counts before = store->GetCounts();
    const uint32_t space = store->UserIdSpace();
    const std::vector<SegmentInfo> segs_before = store->ClosedSegments();

    auto result = store->DeleteUser(victim);
    REQUIRE(result.ok());
    REQUIRE(result->deleted);
    REQUIRE(result->edges_removed == 3);
    REQUIRE(result->events_removed == 4);
    REQUIRE_FALSE(store->FindUser(victim).has_value());
    REQUIRE(store->UserName(v).status().code() == absl::StatusCode::kNotFound);
    REQUIRE(store->UserItems(v).empty());
    REQUIRE(store->UserDegree(v) == 0);
    REQUIRE(store->ItemDegree(item1) == item1_degree - 1);
    REQUIRE(store->ItemDegree(only) == 0);
    for (const EdgeInfo& e : store->ItemUsers(item1)) REQUIRE(e.other != v);
    const Counts after = store->GetCounts();
    REQUIRE(after.users == before.users - 1);
    REQUIRE(after.edges == before.edges - 3);
    REQUIRE(after.events == before.events - 4);
    REQUIRE(store->UserIdSpace() == space);
    for (const StoredEvent& e : AllEvents(*store)) REQUIRE(e.user != v);
    uint64_t seg_events = store->OpenSegment().events;
    for (const SegmentInfo& s : store->ClosedSegments()) seg_events += s.events;
    REQUIRE(seg_events == after.events);
    REQUIRE(store->ClosedSegments().size() == segs_before.size());
    for (uint32_t s = 0; s <= store->OpenSegment().index; ++s) {
      auto csr = store->AccumulatedCsr(s);
      REQUIRE(csr->indptr[v] == csr->indptr[v + 1]);
      for (const EdgePair& p : *store->SegmentEdges(s)) REQUIRE(p.user != v);
    }

    std::string where;
    INFO("found in " << where);
    REQUIRE_FALSE(AnyFileContains(dir, victim, &where));
    REQUIRE_FALSE(AnyFileContains(dir, victim_event, &where));
    REQUIRE(store->DeleteUser("nobody")->deleted == false);

    // The store keeps working; the event id is forgotten and the name comes back with a fresh dense id.
    AppendResult r = Append(*store, {Ev(victim, "item1", 1700000200, 0, 1.0f, victim_event)});
    REQUIRE(r.appended == 1);
    REQUIRE(*store->FindUser(victim) == space);
    REQUIRE(store->DeleteUser(victim)->deleted);
  }
  auto reopened = OpenStore(dir, {SegmentUnit::kEvents, 120});
  REQUIRE_FALSE(reopened->FindUser(victim).has_value());
  REQUIRE(reopened->UserIdSpace() > 0);
  std::string where;
  INFO("found in " << where);
  REQUIRE_FALSE(AnyFileContains(dir, victim, &where));
  // Mirror rebuilt from disk agrees with the item degrees.
  uint64_t edges = 0;
  for (uint32_t i = 0; i < reopened->ItemIdSpace(); ++i) edges += reopened->ItemDegree(i);
  REQUIRE(edges == reopened->GetCounts().edges);
}
