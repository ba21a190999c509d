// GraphStore basics on a real RocksDB: reads, reopen, validation, idempotency, scans, CSR, concurrency.
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "storage/codec.h"
#include "tests/common/temp_dir.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;

TEST_CASE("append, read back through every accessor, and reopen", "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  auto check = [](const GraphStore& s) {
    const uint32_t alice = *s.FindUser("alice"), bob = *s.FindUser("bob");
    const uint32_t book = *s.FindItem("book"), pen = *s.FindItem("pen");
    REQUIRE(alice == 0);
    REQUIRE(bob == 1);
    REQUIRE(book == 0);
    REQUIRE(pen == 1);
    REQUIRE_FALSE(s.FindUser("book").has_value());  // users and items are separate id spaces
    REQUIRE(*s.UserName(alice) == "alice");
    REQUIRE(*s.ItemName(pen) == "pen");
    REQUIRE(s.UserName(7).status().code() == absl::StatusCode::kNotFound);
    REQUIRE(s.UserIdSpace() == 2);
    REQUIRE(s.ItemIdSpace() == 2);

    const std::vector<EdgeInfo> items = s.UserItems(alice);
    REQUIRE(items.size() == 2);
    // alice-book: times 100 then 50 (late): first/last are min/max; last type/weight are the latest append's.
    REQUIRE(items[0] == EdgeInfo{book, 50, 100, 2, 3, 0.5f, 0});
    REQUIRE(items[1] == EdgeInfo{pen, 120, 120, 1, 1, 2.0f, 0});
    const std::vector<EdgeInfo> readers = s.ItemUsers(book);
    REQUIRE(readers.size() == 2);
    REQUIRE(readers[0].other == alice);
    REQUIRE(readers[1] == EdgeInfo{bob, 110, 110, 1, 0, 1.0f, 0});
    REQUIRE(s.UserDegree(alice) == 2);
    REQUIRE(s.UserDegree(bob) == 1);
    REQUIRE(s.ItemDegree(book) == 2);
    REQUIRE(s.ItemDegree(pen) == 1);
    REQUIRE(s.UserDegree(99) == 0);
    const Counts c = s.GetCounts();
    REQUIRE(c.users == 2);
    REQUIRE(c.items == 2);
    REQUIRE(c.edges == 3);
    REQUIRE(c.events == 4);
    REQUIRE(s.MemoryBytes() > 0);

    const std::vector<StoredEvent> events = AllEvents(s);
    REQUIRE(events.size() == 4);
    REQUIRE(events[0] == StoredEvent{1, alice, book, 100, 0, 1.0f, 0});
    REQUIRE(events[3] == StoredEvent{4, alice, book, 50, 3, 0.5f, 0});
  };
  {
    auto store = OpenStore(dir);
    AppendResult r = Append(*store, {Ev("alice", "book", 100), Ev("bob", "book", 110)});
    REQUIRE(r.appended == 2);
    REQUIRE(r.last_sequence == 2);
    r = Append(*store, {Ev("alice", "pen", 120, 1, 2.0f), Ev("alice", "book", 50, 3, 0.5f)});
    REQUIRE(r.last_sequence == 4);
    REQUIRE(r.closed_segments.empty());
    check(*store);
  }
  auto reopened = OpenStore(dir);
  check(*reopened);
  // Ids keep growing after reopen.
  Append(*reopened, {Ev("carol", "ink", 130)});
  REQUIRE(*reopened->FindUser("carol") == 2);
  REQUIRE(*reopened->FindItem("ink") == 2);
  REQUIRE(AllEvents(*reopened).back().sequence == 5);
}

TEST_CASE("open fails cleanly without create_if_missing", "[storage]") {
  TempDir tmp;
  StoreOptions options;
  options.create_if_missing = false;
  REQUIRE(GraphStore::Open(tmp / "absent", options).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("each validation error names index and field and writes nothing", "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  const std::string long_id(kMaxIdBytes + 1, 'x');
  struct Case {
    Event bad;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Ev("", "i", 1), "events[1].user_id: empty"},
      {Ev(long_id, "i", 1), "events[1].user_id: too long (257 bytes, max 256)"},
      {Ev("u", "", 1), "events[1].item_id: empty"},
      {Ev("u", long_id, 1), "events[1].item_id: too long (257 bytes, max 256)"},
      {Ev("u", "i", -1), "events[1].timestamp: negative (-1)"},
      {Ev("u", "i", 1, 0, std::numeric_limits<float>::quiet_NaN()), "events[1].weight: not finite"},
      {Ev("u", "i", 1, 0, std::numeric_limits<float>::infinity()), "events[1].weight: not finite"},
      {Ev("u", "i", 1, 0, -std::numeric_limits<float>::infinity()), "events[1].weight: not finite"},
      {Ev("u", "i", 1, 0, 1.0f, long_id), "events[1].event_id: too long (257 bytes, max 256)"},
  };
  {
    auto store = OpenStore(dir, {SegmentUnit::kEvents, 1});
    for (const Case& c : cases) {
      // A valid event first: it must not be written either.
      auto r = store->AppendBatch({Ev("valid-user", "valid-item", 5, 0, 1.0f, "valid-event"), c.bad,
                                   Ev("later", "later-item", 6)});
      REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
      REQUIRE(std::string(r.status().message()) == c.message);
      REQUIRE(store->GetCounts().events == 0);
      REQUIRE(store->GetCounts().users == 0);
      REQUIRE_FALSE(store->FindUser("valid-user").has_value());
      REQUIRE_FALSE(store->FindItem("valid-item").has_value());
      REQUIRE(AllEvents(*store).empty());
      REQUIRE(store->ClosedSegments().empty());
      REQUIRE(store->OpenSegment().events == 0);
    }
    // The event id of the rejected batches was not recorded: the same event is accepted now.
    AppendResult r = Append(*store, {Ev("valid-user", "valid-item", 5, 0, 1.0f, "valid-event")});
    REQUIRE(r.appended == 1);
    // Exactly 256 bytes is allowed.
    const std::string max_id(kMaxIdBytes, 'm');
    REQUIRE(Append(*store, {Ev(max_id, max_id, 0, 0, 1.0f, max_id)}).appended == 1);
  }
  auto reopened = OpenStore(dir);
  REQUIRE(reopened->GetCounts().events == 2);
  REQUIRE(reopened->GetCounts().users == 2);
}

TEST_CASE("event_id makes a retried batch count once, also within a batch and after reopen", "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  const std::vector<Event> batch = {Ev("u1", "a", 10, 0, 1.0f, "e1"), Ev("u1", "b", 11, 0, 1.0f, "e2"),
                                    Ev("u2", "a", 12, 0, 1.0f, "e3")};
  {
    auto store = OpenStore(dir);
    AppendResult r = Append(*store, batch);
    REQUIRE(r.appended == 3);
    REQUIRE(r.duplicates == 0);
    r = Append(*store, batch);  // the retry
    REQUIRE(r.appended == 0);
    REQUIRE(r.duplicates == 3);
    REQUIRE(r.last_sequence == 3);
    REQUIRE(store->GetCounts().events == 3);
    REQUIRE(store->UserItems(0)[0].count == 1);

    // Partly new batch with an id repeated inside it.
    r = Append(*store, {Ev("u1", "a", 13, 0, 1.0f, "e1"), Ev("u3", "c", 14, 0, 1.0f, "e4"),
                        Ev("u3", "c", 15, 0, 1.0f, "e4"), Ev("u3", "d", 16)});
    REQUIRE(r.appended == 2);
    REQUIRE(r.duplicates == 2);
    REQUIRE(store->UserItems(*store->FindUser("u3"))[0].count == 1);

    // Without an event_id there is no deduplication.
    Append(*store, {Ev("u4", "a", 20)});
    Append(*store, {Ev("u4", "a", 20)});
    REQUIRE(store->UserItems(*store->FindUser("u4"))[0].count == 2);
    REQUIRE(store->GetCounts().events == 7);
  }
  auto reopened = OpenStore(dir);
  AppendResult r = Append(*reopened, batch);
  REQUIRE(r.duplicates == 3);
  REQUIRE(r.appended == 0);
  REQUIRE(reopened->GetCounts().events == 7);
  REQUIRE(reopened->UserItems(0)[0].count == 1);
}

TEST_CASE("events scan by sequence range and by event time", "[storage]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db", {SegmentUnit::kEvents, 37});
  std::mt19937 rng(7);
  std::vector<Event> all;
  for (int b = 0; b < 20; ++b) {
    std::vector<Event> batch;
    for (int j = 0; j < 1 + b * 3; ++j)
      batch.push_back(Ev("u" + std::to_string(rng() % 30), "i" + std::to_string(rng() % 40), rng() % 1000,
                         static_cast<int32_t>(rng() % 4)));
    Append(*store, batch);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  const std::vector<StoredEvent> stored = AllEvents(*store);
  REQUIRE(stored.size() == all.size());
  for (size_t k = 0; k < stored.size(); ++k) {
    REQUIRE(stored[k].sequence == k + 1);
    REQUIRE(stored[k].timestamp == all[k].timestamp);
    REQUIRE(*store->UserName(stored[k].user) == all[k].user_id);
    REQUIRE(*store->ItemName(stored[k].item) == all[k].item_id);
    REQUIRE(stored[k].segment == k / 37);
  }
  for (int trial = 0; trial < 50; ++trial) {
    const uint64_t from = rng() % (all.size() + 5), to = from + rng() % 200;
    std::vector<uint64_t> got;
    REQUIRE(store->ScanEvents(from, to, [&](const StoredEvent& e) {
      got.push_back(e.sequence);
      return true;
    }).ok());
    std::vector<uint64_t> want;
    for (uint64_t s = std::max<uint64_t>(from, 1); s < to && s <= all.size(); ++s) want.push_back(s);
    REQUIRE(got == want);

    const int64_t t_from = rng() % 1000, t_to = t_from + rng() % 300;
    got.clear();
    REQUIRE(store->ScanEventsByTime(t_from, t_to, [&](const StoredEvent& e) {
      got.push_back(e.sequence);
      return true;
    }).ok());
    want.clear();
    for (size_t k = 0; k < all.size(); ++k)
      if (all[k].timestamp >= t_from && all[k].timestamp < t_to) want.push_back(k + 1);
    REQUIRE(got == want);
  }
  // Early stop.
  int seen = 0;
  REQUIRE(store->ScanEvents(1, 1000, [&](const StoredEvent&) { return ++seen < 5; }).ok());
  REQUIRE(seen == 5);
}

TEST_CASE("AccumulatedCsr and SegmentEdges equal a naive build, before and after reopen", "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  std::mt19937 rng(11);
  // Naive model: every appended event with its segment.
  struct Naive {
    uint32_t user, item, segment;
  };
  std::vector<Naive> log;
  uint32_t last_segment = 0;
  {
    auto store = OpenStore(dir);  // manual segments
    for (int b = 0; b < 40; ++b) {
      std::vector<Event> batch;
      for (int j = 0; j < 80; ++j) {
        // Skewed users and items so that some rows are long and many edges repeat.
        const uint32_t u = static_cast<uint32_t>(std::pow(rng() % 1000 / 1000.0, 2) * 150);
        const uint32_t i = static_cast<uint32_t>(std::pow(rng() % 1000 / 1000.0, 3) * 90);
        batch.push_back(Ev("user" + std::to_string(u), "item" + std::to_string(i), 1000 + b));
      }
      Append(*store, batch);
      const uint32_t seg = store->OpenSegment().index;
      for (const Event& e : batch)
        log.push_back({*store->FindUser(e.user_id), *store->FindItem(e.item_id), seg});
      if (b % 7 == 6) REQUIRE(store->CloseSegment().ok());
    }
    last_segment = store->OpenSegment().index;
    REQUIRE(last_segment == 5);
  }
  auto store = OpenStore(dir);
  for (uint32_t s = 0; s <= last_segment; ++s) {
    std::map<uint32_t, std::set<uint32_t>> rows;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> last_segment;  // over the whole log, as the store keeps it
    std::set<std::pair<uint32_t, uint32_t>> in_segment;
    for (const Naive& e : log) {
      if (e.segment <= s) rows[e.user].insert(e.item);
      if (e.segment == s) in_segment.insert({e.user, e.item});
      last_segment[{e.user, e.item}] = e.segment;  // the log is in order: the last one wins
    }
    auto csr = store->AccumulatedCsr(s);
    REQUIRE(csr.ok());
    REQUIRE(csr->num_users == store->UserIdSpace());
    REQUIRE(csr->num_items == store->ItemIdSpace());
    REQUIRE(csr->indptr.size() == csr->num_users + 1);
    std::vector<int64_t> indptr{0};
    std::vector<int32_t> indices;
    std::vector<uint32_t> last;
    for (uint32_t u = 0; u < csr->num_users; ++u) {
      for (uint32_t i : rows[u]) {
        indices.push_back(static_cast<int32_t>(i));
        last.push_back(last_segment.at({u, i}));
      }
      indptr.push_back(static_cast<int64_t>(indices.size()));
    }
    REQUIRE(csr->indptr == indptr);
    REQUIRE(csr->indices == indices);
    REQUIRE(csr->last_segment == last);

    auto edges = store->SegmentEdges(s);
    REQUIRE(edges.ok());
    std::vector<EdgePair> want;
    for (const auto& [u, i] : in_segment) want.push_back({u, i});
    REQUIRE(*edges == want);
  }
  REQUIRE(store->AccumulatedCsr(last_segment + 1).status().code() == absl::StatusCode::kNotFound);
  REQUIRE(store->SegmentEdges(last_segment + 1).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("concurrent readers never see half a batch", "[storage]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db");
  std::atomic<bool> done{false};
  std::atomic<int> violations{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done) {
        const Counts c = store->GetCounts();
        if (c.edges % 5 != 0 || c.events % 5 != 0) ++violations;
        const uint32_t space = store->UserIdSpace();
        if (space > 0) {
          const uint32_t deg = store->UserDegree(rng() % space);
          if (deg != 5) ++violations;  // every user comes with exactly five items in one batch
        }
        const auto csr = store->AccumulatedCsr(0);
        if (!csr.ok() || csr->indices.size() % 5 != 0) ++violations;
        ++reads;
      }
    });
  // At least 400 batches, and on until the readers (possibly starved on a loaded machine) read a while.
  int batches = 0;
  for (int b = 0; b < 400 || (reads < 200 && b < 20000); ++b, ++batches) {
    std::vector<Event> batch;
    for (int j = 0; j < 5; ++j) batch.push_back(Ev("user" + std::to_string(b), "item" + std::to_string(j), b));
    Append(*store, batch);
  }
  done = true;
  for (auto& t : readers) t.join();
  REQUIRE(reads > 0);
  REQUIRE(violations == 0);
  REQUIRE(store->GetCounts().edges == 5u * batches);
}

TEST_CASE("edge values round-trip, and values written before last_segment decode with last = first", "[storage]") {
  codec::EdgeValue e;
  e.first_time = 1000;
  e.last_time = 5000;
  e.count = 3;
  e.last_type = -2;
  e.last_weight = 0.5f;
  e.first_segment = 4;
  e.last_segment = 9;
  std::string bytes;
  codec::EncodeEdge(e, &bytes);
  codec::EdgeValue back;
  REQUIRE(codec::DecodeEdge(bytes, &back));
  CHECK(back.first_time == 1000);
  CHECK(back.last_time == 5000);
  CHECK(back.count == 3);
  CHECK(back.last_type == -2);
  CHECK(back.last_weight == 0.5f);
  CHECK(back.first_segment == 4);
  CHECK(back.last_segment == 9);

  // The older layout is the same bytes without the trailing last_segment delta (one byte here: 9 - 4).
  codec::EdgeValue old;
  REQUIRE(codec::DecodeEdge(std::string_view(bytes).substr(0, bytes.size() - 1), &old));
  CHECK(old.count == 3);
  CHECK(old.first_segment == 4);
  CHECK(old.last_segment == 4);
  // A truncated value is refused, never read past its end.
  CHECK_FALSE(codec::DecodeEdge(std::string_view(bytes).substr(0, 3), &old));
}

TEST_CASE("the event-id window bounds RAM; a retry older than the window is still a duplicate (RocksDB)",
          "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  StoreOptions options;
  options.event_id_window = 100;
  auto with_ids = [](int from, int n) {
    std::vector<Event> batch;
    for (int k = from; k < from + n; ++k)
      batch.push_back(Ev("u" + std::to_string(k % 13), "i" + std::to_string(k % 7), k, 0, 1.0f,
                         "evt-" + std::to_string(k)));
    return batch;
  };
  {
    auto opened = GraphStore::Open(dir, options);
    REQUIRE(opened.ok());
    auto& store = **opened;
    for (int b = 0; b < 20; ++b) REQUIRE(Append(store, with_ids(b * 500, 500)).appended == 500);
    const uint64_t ram_10k_ids = store.MemoryBytes();
    for (int b = 20; b < 40; ++b) REQUIRE(Append(store, with_ids(b * 500, 500)).appended == 500);
    // 10,000 more ids, RAM for them unchanged: only the window's 100 fingerprints are held.
    REQUIRE(store.MemoryBytes() == ram_10k_ids);
    // The oldest ids are far outside the window: RocksDB answers, all duplicates, nothing stored twice.
    AppendResult r = Append(store, with_ids(0, 500));
    REQUIRE(r.duplicates == 500);
    REQUIRE(r.appended == 0);
    // Mixed: 250 old (outside), 250 inside the window... and 10 new ids.
    r = Append(store, with_ids(19750, 260));
    REQUIRE(r.duplicates == 250);
    REQUIRE(r.appended == 10);
    REQUIRE(store.GetCounts().events == 20010);
  }
  // After reopen (the window starts empty) and with no window at all.
  options.event_id_window = 0;
  auto reopened = GraphStore::Open(dir, options);
  REQUIRE(reopened.ok());
  AppendResult r = Append(**reopened, with_ids(5000, 1000));
  REQUIRE(r.duplicates == 1000);
  REQUIRE((*reopened)->GetCounts().events == 20010);
}

// Cluster mode's exactly-once apply rests on this: the log position is written with the entry's effect, also
// when the effect is empty, and survives a reopen; single-process writes leave it alone.
TEST_CASE("applied log position: recorded with each write, kept across reopen", "[storage]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  {
    auto store = OpenStore(dir);
    REQUIRE(store->AppliedPosition() == 0);
    auto r = store->AppendBatchAt({Ev("u", "i", 10, 0, 1.0f, "e1")}, 5);
    REQUIRE(r.ok());
    REQUIRE(r->appended == 1);
    REQUIRE(store->AppliedPosition() == 5);
    // A batch of duplicates writes nothing of the graph but still records its position.
    r = store->AppendBatchAt({Ev("u", "i", 10, 0, 1.0f, "e1")}, 6);
    REQUIRE(r.ok());
    REQUIRE(r->duplicates == 1);
    REQUIRE(store->AppliedPosition() == 6);
    // Refused by validation: nothing written, position unchanged.
    REQUIRE(store->AppendBatchAt({Ev("", "i", 10)}, 7).status().code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(store->AppliedPosition() == 6);
    REQUIRE(store->RecordPosition(7).ok());
    REQUIRE(store->CloseSegmentAt(8).ok());
    REQUIRE(store->AppliedPosition() == 8);
    // Nothing to close: FAILED_PRECONDITION, and the position is recorded all the same.
    REQUIRE(store->CloseSegmentAt(9).status().code() == absl::StatusCode::kFailedPrecondition);
    REQUIRE(store->AppliedPosition() == 9);
    // A write without a position (single process) keeps the last one.
    Append(*store, {Ev("v", "i", 20)});
    REQUIRE(store->AppliedPosition() == 9);
  }
  auto reopened = OpenStore(dir);
  REQUIRE(reopened->AppliedPosition() == 9);
  REQUIRE(reopened->GetCounts().events == 2);
  REQUIRE(reopened->ClosedSegments().size() == 1);
}
