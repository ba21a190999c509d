// The structures behind the graph store's edges: the mirror's per-user rows and per-item lists against a naive
// model, and the user_items merge operator (storage/edge_merge.h) against the values appends must produce.
#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "rocksdb/write_batch.h"
#include "storage/bench_support.h"
#include "storage/codec.h"
#include "storage/edge_merge.h"
#include "storage/graph_mirror.h"
#include "storage/rocks_layout.h"
#include "tests/common/temp_dir.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;

namespace {

// (user, item) -> (first segment, last segment), as the mirror must hold it.
using NaiveEdges = std::map<std::pair<uint32_t, uint32_t>, std::pair<uint32_t, uint32_t>>;

void RequireMirrorEquals(const GraphMirror& m, const NaiveEdges& naive, uint32_t users, uint32_t items,
                         uint32_t segments) {
  REQUIRE(m.live_edges() == naive.size());
  std::map<uint32_t, std::vector<RowEdge>> rows;
  std::map<uint32_t, std::vector<uint32_t>> item_rows;
  for (const auto& [k, seg] : naive) {
    rows[k.first].push_back(RowEdge{k.second, seg.first, seg.second});
    item_rows[k.second].push_back(k.first);
  }
  for (uint32_t u = 0; u < users; ++u) {
    INFO("user " << u);
    const std::vector<RowEdge> got = m.UserRow(u);
    const std::vector<RowEdge>& want = rows[u];
    REQUIRE(got.size() == want.size());
    REQUIRE(m.UserDegree(u) == want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      REQUIRE(got[k].item == want[k].item);
      REQUIRE(got[k].first_segment == want[k].first_segment);
      REQUIRE(got[k].last_segment == want[k].last_segment);
      const RowEdge* found = m.FindEdge(u, want[k].item);
      REQUIRE(found != nullptr);
      REQUIRE(found->item == want[k].item);
    }
  }
  for (uint32_t i = 0; i < items; ++i) {
    REQUIRE(m.ItemRow(i) == item_rows[i]);
    REQUIRE(m.ItemDegree(i) == item_rows[i].size());
  }
  // Absent pairs are not found (a sample: every item for a few users).
  for (uint32_t u = 0; u < users; u += 97)
    for (uint32_t i = 0; i < items; ++i) REQUIRE((m.FindEdge(u, i) != nullptr) == (naive.count({u, i}) > 0));
  // FindEdges (the batch lookup of the append path) answers as FindEdge, present and absent pairs mixed, users
  // past the last row included, in groups of every size.
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  std::mt19937 rng(11);
  for (const auto& [k, seg] : naive)
    if (rng() % 3 == 0) pairs.push_back(k);
  for (int n = 0; n < 2000; ++n) pairs.push_back({rng() % (users + 5), rng() % items});
  std::shuffle(pairs.begin(), pairs.end(), rng);
  for (size_t len : {pairs.size(), size_t{1}, size_t{15}, size_t{17}}) {
    std::vector<RowEdge*> found(len);
    const_cast<GraphMirror&>(m).FindEdges(pairs.data(), len, found.data());
    for (size_t k = 0; k < len; ++k) {
      INFO("pair " << pairs[k].first << "," << pairs[k].second);
      REQUIRE(found[k] == m.FindEdge(pairs[k].first, pairs[k].second));
    }
  }
  for (uint32_t s = 0; s < segments; ++s) {
    const Csr csr = m.AccumulatedCsr(s);
    std::vector<int64_t> indptr{0};
    std::vector<int32_t> indices;
    std::vector<uint32_t> last;
    for (uint32_t u = 0; u < csr.num_users; ++u) {
      for (const RowEdge& e : rows[u])
        if (e.first_segment <= s) {
          indices.push_back(static_cast<int32_t>(e.item));
          last.push_back(e.last_segment);
        }
      indptr.push_back(static_cast<int64_t>(indices.size()));
    }
    REQUIRE(csr.indptr == indptr);
    REQUIRE(csr.indices == indices);
    REQUIRE(csr.last_segment == last);
  }
}

}  // namespace

TEST_CASE("mirror rows equal a naive model after random inserts, segment touches and user removals",
          "[storage][mirror]") {
  GraphMirror m(0);
  constexpr uint32_t kUsers = 300, kItems = 6000;
  for (uint32_t u = 0; u < kUsers; ++u) m.users.Set(u, "u" + std::to_string(u));
  for (uint32_t i = 0; i < kItems; ++i) m.items.Set(i, "i" + std::to_string(i));
  std::mt19937 rng(5);
  NaiveEdges naive;
  uint32_t segment = 0;
  auto step = [&](int events) {
    for (int n = 0; n < events; ++n) {
      // User 0 is heavy (rows of thousands: the sorted prefix + tail merges), the rest skewed and short.
      const uint32_t u = rng() % 4 == 0 ? 0 : static_cast<uint32_t>(std::pow(rng() % 1000 / 1000.0, 3) * kUsers);
      const uint32_t i = rng() % kItems;
      auto it = naive.find({u, i});
      if (it == naive.end()) {
        REQUIRE(m.FindEdge(u, i) == nullptr);
        naive[{u, i}] = {segment, segment};
        m.AddEdge(u, RowEdge{i, segment, segment});
      } else {
        REQUIRE(m.FindEdge(u, i) != nullptr);
        it->second.second = segment;
        m.TouchEdge(u, i, segment);
      }
    }
    ++segment;
  };
  for (int round = 0; round < 6; ++round) step(3000);
  RequireMirrorEquals(m, naive, kUsers, kItems, segment);
  // Remove some users (user 0 among them), then add more edges: removed rows' blocks are reused.
  for (uint32_t u : {0u, 3u, 17u, 150u}) {
    const std::vector<uint32_t> items = m.RemoveUserEdges(u);
    size_t want = 0;
    for (auto it = naive.begin(); it != naive.end();)
      if (it->first.first == u) {
        REQUIRE(std::find(items.begin(), items.end(), it->first.second) != items.end());
        it = naive.erase(it);
        ++want;
      } else {
        ++it;
      }
    REQUIRE(items.size() == want);
  }
  RequireMirrorEquals(m, naive, kUsers, kItems, segment);
  const uint64_t bytes = m.MemoryBytes();
  for (int round = 0; round < 3; ++round) step(3000);
  RequireMirrorEquals(m, naive, kUsers, kItems, segment);
  REQUIRE(m.MemoryBytes() > bytes);  // grew with the new edges (a counter that moves: the figure is live)
}

TEST_CASE("edge merge: operands combine as appends do, on top of values written whole by older stores",
          "[storage][merge]") {
  codec::EdgeValue older;  // a full value: as stores before merge operands wrote it
  older.first_time = 500;
  older.last_time = 900;
  older.count = 4;
  older.last_type = 1;
  older.last_weight = 2.0f;
  older.first_segment = 1;
  older.last_segment = 3;
  codec::EdgeValue a;  // a batch with a late event (before first_time) and one after last_time
  a.first_time = 400;
  a.last_time = 1000;
  a.count = 2;
  a.last_type = 7;
  a.last_weight = 0.5f;
  a.first_segment = a.last_segment = 5;
  codec::EdgeValue b = a;
  b.first_time = b.last_time = 950;
  b.count = 1;
  b.last_type = -3;
  b.last_weight = 4.0f;
  b.first_segment = b.last_segment = 6;
  auto check = [&](const codec::EdgeValue& v) {
    CHECK(v.first_time == 400);
    CHECK(v.last_time == 1000);
    CHECK(v.count == 7);
    CHECK(v.last_type == -3);  // the newest operand's
    CHECK(v.last_weight == 4.0f);
    CHECK(v.first_segment == 1);
    CHECK(v.last_segment == 6);
  };
  check(CombineEdges(CombineEdges(older, a), b));
  check(CombineEdges(older, CombineEdges(a, b)));  // associative: RocksDB may combine operands first

  // Through RocksDB with the store's options: a whole value in the pre-last_segment layout, two operands; read
  // from the memtable, then from the files after a flush (the merge then ran in the flush), then after reopen.
  TempDir tmp;
  StoreOptions options;
  std::string base;
  codec::EncodeEdge(older, &base);
  base.pop_back();  // the older layout has no trailing last_segment delta: it reads as last = first (1)
  auto rocks = OpenRocks(tmp / "db", options);
  REQUIRE(rocks.ok());
  const std::string key = codec::EdgeKey(7, 9);
  rocksdb::WriteOptions wo;
  REQUIRE((*rocks)->db->Put(wo, (**rocks)[kCfUserItems], key, base).ok());
  for (const codec::EdgeValue* op : {&a, &b}) {
    std::string bytes;
    codec::EncodeEdge(*op, &bytes);
    REQUIRE((*rocks)->db->Merge(wo, (**rocks)[kCfUserItems], key, bytes).ok());
  }
  auto read = [&](RocksHandles& h) {
    std::string value;
    REQUIRE(h.db->Get(rocksdb::ReadOptions(), h[kCfUserItems], key, &value).ok());
    codec::EdgeValue v;
    REQUIRE(DecodeEdge(value, &v));
    return v;
  };
  check(read(**rocks));
  REQUIRE((*rocks)->db->Flush(rocksdb::FlushOptions(), (**rocks)[kCfUserItems]).ok());
  check(read(**rocks));
  rocks->reset();
  auto reopened = OpenRocks(tmp / "db", options);
  REQUIRE(reopened.ok());
  check(read(**reopened));
  // A damaged operand is reported as corruption, not merged into a guess.
  REQUIRE((*reopened)->db->Merge(wo, (**reopened)[kCfUserItems], key, "\xff").ok());
  std::string value;
  REQUIRE_FALSE((*reopened)->db->Get(rocksdb::ReadOptions(), (**reopened)[kCfUserItems], key, &value).ok());
}

TEST_CASE("edge values read by UserItems are those of the batch the mirror shows, under concurrent appends",
          "[storage][merge]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db");
  std::atomic<bool> done{false};
  std::atomic<int> violations{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      auto user = store->FindUser("hot");
      if (!user) continue;
      // Every batch adds 5 events of this user, some on new edges: the counts over the edges the mirror lists
      // sum to a multiple of 5 only when the values are of the same batch as the mirror.
      uint64_t sum = 0;
      for (const EdgeInfo& e : store->UserItems(*user)) sum += e.count;
      if (sum == 0 || sum % 5 != 0) ++violations;
      ++reads;
    }
  });
  int batches = 0;
  for (int b = 0; b < 300 || (reads < 200 && b < 20000); ++b, ++batches) {
    std::vector<Event> batch;
    for (int j = 0; j < 5; ++j) batch.push_back(Ev("hot", "item" + std::to_string((b * 3 + j) % 400), b));
    Append(*store, batch);
  }
  done = true;
  reader.join();
  REQUIRE(reads > 0);
  REQUIRE(violations == 0);
  uint64_t sum = 0;
  for (const EdgeInfo& e : store->UserItems(*store->FindUser("hot"))) sum += e.count;
  REQUIRE(sum == 5u * batches);
}

// A stream of ~100k distinct edges (more than PendingEdgeLimit's 64k, so edge files are written mid-stream) and
// the naive count of every edge by external ids, to hold a store's edge values against.
struct CountedStream {
  std::mt19937 rng{3};
  std::map<std::pair<std::string, std::string>, uint32_t> counts;
  void Append(GraphStore& store, int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<Event> batch;
      for (int j = 0; j < 1000; ++j) {
        const std::string u = "u" + std::to_string(rng() % 3000), i = "i" + std::to_string(rng() % 400);
        batch.push_back(Ev(u, i, 1000 + b, static_cast<int32_t>(rng() % 3)));
        ++counts[{u, i}];
      }
      gpt4rec::storage::testing::Append(store, batch);
      if (b % 40 == 39) REQUIRE(store.CloseSegment().ok());
    }
  }
  void RequireCounts(const GraphStore& store) const {
    uint64_t edges = 0;
    for (uint32_t u = 0; u < store.UserIdSpace(); ++u) {
      const std::vector<EdgeInfo> full = store.UserItems(u), light = store.UserItemSegments(u);
      REQUIRE(light.size() == full.size());
      for (size_t k = 0; k < full.size(); ++k) {
        const EdgeInfo& e = full[k];
        REQUIRE(e.count == counts.at({*store.UserName(u), *store.ItemName(e.other)}));
        // The memory-only list: the same edges, ids and segments, in the same order.
        REQUIRE((light[k].other == e.other && light[k].first_segment == e.first_segment &&
                 light[k].last_segment == e.last_segment && light[k].count == 0));
        ++edges;
      }
    }
    for (uint32_t i = 0; i < store.ItemIdSpace(); i += 37) {
      const std::vector<EdgeInfo> full = store.ItemUsers(i), light = store.ItemUserSegments(i);
      REQUIRE(light.size() == full.size());
      for (size_t k = 0; k < full.size(); ++k)
        REQUIRE((light[k].other == full[k].other && light[k].first_segment == full[k].first_segment &&
                 light[k].last_segment == full[k].last_segment));
    }
    REQUIRE(edges == counts.size());
    REQUIRE(store.GetCounts().edges == counts.size());
  }
};

TEST_CASE("edge values ingested in files and pending in RAM survive a close without Flush, a checkpoint and a "
          "flushed reopen", "[storage][merge]") {
  const bool background = GENERATE(false, true);  // StoreOptions::background_edge_files
  INFO("background edge files: " << background);
  TempDir tmp;
  const std::string dir = tmp / "db";
  CountedStream stream;
  {
    auto store = OpenStore(dir, {}, background);
    stream.Append(*store, 120);
    // Some values are in user_items, the rest pending (in the background mode the file may still be in
    // flight: the next test holds that state).
    if (!background) REQUIRE(bench::EdgeFileBytes(*store) > 0);
    stream.RequireCounts(*store);
    REQUIRE(store->Checkpoint(tmp / "checkpoint").ok());
  }  // no Flush: what was pending comes back from the event log
  {
    auto store = OpenStore(dir, {}, background);
    stream.RequireCounts(*store);
    auto checkpoint = OpenStore(tmp / "checkpoint");
    RequireSameStore(*store, *checkpoint);
    stream.Append(*store, 30);
    stream.RequireCounts(*store);
    REQUIRE(store->Flush().ok());
    REQUIRE(bench::EdgeFileBytes(*store) > 0);
  }
  auto store = OpenStore(dir);
  stream.RequireCounts(*store);
}

TEST_CASE("an edge file in flight: while it is in user_items but not yet published, reads count every event "
          "once; appends go on; Flush and a reopen keep the counts", "[storage][merge]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  CountedStream stream;
  std::promise<void> ingested, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> files{0};
  // Released on every exit from the block below, a failed REQUIRE included: the store's destructor waits
  // for the file, which waits for the release.
  struct ReleaseOnExit {
    std::promise<void>* release;
    bool done = false;
    void Now() {
      if (!done) release->set_value();
      done = true;
    }
    ~ReleaseOnExit() { Now(); }
  };
  {
    auto store = OpenStore(dir);
    ReleaseOnExit release_on_exit{&release};  // destroyed before the store
    bench::SetEdgeFileIngestedHook(*store, [&] {
      if (files++ == 0) {  // the first file only: it waits in the state under test
        ingested.set_value();
        released.wait();
      }
    });
    // ~77k distinct edges: the pending table fills once (at 64k), so the file starts and no later append waits for it.
    stream.Append(*store, 80);
    ingested.get_future().wait();  // the file is in user_items; the writer has not published it
    REQUIRE(bench::EdgeFileBytes(*store) == 0);
    stream.RequireCounts(*store);  // the old snapshot plus the values in flight plus the newer pending ones
    release_on_exit.Now();
    stream.Append(*store, 10);
    stream.RequireCounts(*store);
    REQUIRE(store->Flush().ok());  // waits for the file, then writes the rest
    REQUIRE(files.load() == 1);  // the rest was written by Flush itself
    REQUIRE(bench::EdgeFileBytes(*store) > 0);
    stream.RequireCounts(*store);
  }
  auto store = OpenStore(dir);
  stream.RequireCounts(*store);
}
