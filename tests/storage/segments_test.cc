// Segment policies: calendar boundaries in UTC (hour, day, month with year roll-over), events:N, manual.
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "storage/segment_clock.h"
#include "tests/common/temp_dir.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;

namespace {
// 2023-12-31T00:00:00Z and friends.
constexpr int64_t kDec31 = 1703980800;
constexpr int64_t kJan1 = 1704067200;
constexpr int64_t kJan2 = 1704153600;
constexpr int64_t kFeb1 = 1706745600;
constexpr int64_t kFeb29 = 1709164800;
constexpr int64_t kMar1 = 1709251200;
}  // namespace

TEST_CASE("segment policies parse", "[storage][segments]") {
  REQUIRE(ParseSegmentPolicy("hour")->unit == SegmentUnit::kHour);
  REQUIRE(ParseSegmentPolicy("day")->unit == SegmentUnit::kDay);
  REQUIRE(ParseSegmentPolicy("month")->unit == SegmentUnit::kMonth);
  REQUIRE(ParseSegmentPolicy("manual")->unit == SegmentUnit::kManual);
  auto n = ParseSegmentPolicy("events:250");
  REQUIRE(n->unit == SegmentUnit::kEvents);
  REQUIRE(n->events_per_segment == 250);
  for (const char* bad : {"", "week", "events:", "events:0", "events:-3", "events:x", "Day"})
    REQUIRE(ParseSegmentPolicy(bad).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("hour and day buckets equal the civil-time computation", "[storage][segments]") {
  // TimeBucket computes UTC hours and days by division; they must be the civil hours and days since 1970.
  std::vector<int64_t> times = {0, 1, 3599, 3600, 86399, 86400, kDec31 - 1, kDec31, kJan1, kFeb29 - 1, kFeb29,
                                kMar1, 4102444800 /* 2100-01-01 */, -1, -3600, -86401};
  for (int64_t t = 1600000000; t < 1600000000 + 40 * 86400; t += 1733) times.push_back(t);
  for (int64_t t : times) {
    const absl::CivilSecond when = absl::ToCivilSecond(absl::FromUnixSeconds(t), absl::UTCTimeZone());
    REQUIRE(TimeBucket(SegmentUnit::kDay, t) == absl::CivilDay(when) - absl::CivilDay(1970, 1, 1));
    REQUIRE(TimeBucket(SegmentUnit::kHour, t) == absl::CivilHour(when) - absl::CivilHour(1970, 1, 1, 0));
  }
}

TEST_CASE("day segments close at UTC midnight; late events stay in the open segment", "[storage][segments]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  {
    auto store = OpenStore(dir, {SegmentUnit::kDay, 0});
    // One batch crossing midnight: the crossing event and the rest of the batch open segment 1.
    AppendResult r = Append(*store, {Ev("a", "x", kJan1 + 82800), Ev("a", "y", kJan1 + 86399),
                                     Ev("b", "x", kJan2), Ev("b", "y", kJan2 + 5)});
    REQUIRE(r.closed_segments == std::vector<uint32_t>{0});
    std::vector<SegmentInfo> closed = store->ClosedSegments();
    REQUIRE(closed.size() == 1);
    REQUIRE(closed[0] == SegmentInfo{0, true, 1, 3, kJan1 + 82800, kJan1 + 86399, 2});
    REQUIRE(store->OpenSegment() == SegmentInfo{1, false, 3, 5, kJan2, kJan2 + 5, 2});
    // A late event (yesterday) stays in the open segment and widens its time span.
    r = Append(*store, {Ev("c", "z", kJan1 + 3600)});
    REQUIRE(r.closed_segments.empty());
    REQUIRE(store->OpenSegment().events == 3);
    REQUIRE(store->OpenSegment().min_time == kJan1 + 3600);
  }
  // The open segment's day survives a reopen: the next day's event closes it.
  auto store = OpenStore(dir, {SegmentUnit::kDay, 0});
  REQUIRE(Append(*store, {Ev("a", "x", kJan2 + 86400 * 9)}).closed_segments == std::vector<uint32_t>{1});
  REQUIRE(store->ClosedSegments().size() == 2);  // a 9-day jump closes one segment, no empty ones
  REQUIRE(store->OpenSegment().index == 2);
  REQUIRE(store->OpenSegment().first_sequence == 6);
  // Edges remember the segment they first appeared in; segment events come back per segment.
  const auto items = store->UserItems(*store->FindUser("b"));
  REQUIRE(items[0].first_segment == 1);
  REQUIRE(store->UserItems(*store->FindUser("a"))[0].first_segment == 0);
  std::vector<uint32_t> segs;
  REQUIRE(store->ScanEvents(0, 100, [&](const StoredEvent& e) {
    segs.push_back(e.segment);
    return true;
  }).ok());
  REQUIRE(segs == std::vector<uint32_t>{0, 0, 1, 1, 1, 2});
}

TEST_CASE("month segments follow the calendar across the year roll-over and leap day", "[storage][segments]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db", {SegmentUnit::kMonth, 0});
  REQUIRE(Append(*store, {Ev("a", "x", kDec31), Ev("a", "y", kJan1 - 1)}).closed_segments.empty());
  AppendResult r = Append(*store, {Ev("a", "z", kJan1), Ev("b", "z", kFeb1 - 1)});
  REQUIRE(r.closed_segments == std::vector<uint32_t>{0});
  REQUIRE(Append(*store, {Ev("b", "x", kFeb1)}).closed_segments == std::vector<uint32_t>{1});
  REQUIRE(Append(*store, {Ev("b", "w", kFeb29 + 86399)}).closed_segments.empty());
  REQUIRE(Append(*store, {Ev("b", "v", kMar1)}).closed_segments == std::vector<uint32_t>{2});
  const auto closed = store->ClosedSegments();
  REQUIRE(closed.size() == 3);
  REQUIRE(closed[0].events == 2);
  REQUIRE(closed[1].events == 2);
  REQUIRE(closed[1].min_time == kJan1);
  REQUIRE(closed[2].events == 2);
}

TEST_CASE("hour segments", "[storage][segments]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db", {SegmentUnit::kHour, 0});
  AppendResult r = Append(*store, {Ev("a", "x", kJan1 + 10), Ev("a", "y", kJan1 + 3599), Ev("a", "z", kJan1 + 3600),
                                   Ev("a", "w", kJan1 + 7300)});
  REQUIRE(r.closed_segments == std::vector<uint32_t>{0, 1});
  REQUIRE(store->ClosedSegments()[1].events == 1);
  REQUIRE(store->OpenSegment().index == 2);
}

TEST_CASE("events:N closes as soon as N events are in, inside one batch too", "[storage][segments]") {
  TempDir tmp;
  auto store = OpenStore(tmp / "db", {SegmentUnit::kEvents, 3});
  std::vector<Event> batch;
  for (int j = 0; j < 7; ++j) batch.push_back(Ev("u", "i" + std::to_string(j), 100 - j));
  AppendResult r = Append(*store, batch);
  REQUIRE(r.closed_segments == std::vector<uint32_t>{0, 1});
  const auto closed = store->ClosedSegments();
  REQUIRE(closed[0] == SegmentInfo{0, true, 1, 4, 98, 100, 3});
  REQUIRE(closed[1] == SegmentInfo{1, true, 4, 7, 95, 97, 3});
  REQUIRE(store->OpenSegment() == SegmentInfo{2, false, 7, 8, 94, 94, 1});
  // Duplicates do not count towards N.
  r = Append(*store, {Ev("u", "k", 1, 0, 1.0f, "e"), Ev("u", "k", 1, 0, 1.0f, "e")});
  REQUIRE(r.closed_segments.empty());
  REQUIRE(Append(*store, {Ev("u", "k", 1)}).closed_segments == std::vector<uint32_t>{2});
  auto edges = store->SegmentEdges(1);
  REQUIRE(edges->size() == 3);
  REQUIRE((*edges)[0].item == 3);
}

TEST_CASE("manual segments close only on request and never empty", "[storage][segments]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  {
    auto store = OpenStore(dir);
    REQUIRE(store->CloseSegment().status().code() == absl::StatusCode::kFailedPrecondition);
    REQUIRE(Append(*store, {Ev("a", "x", kJan1), Ev("a", "y", kFeb1 + 86400 * 400)}).closed_segments.empty());
    auto closed = store->CloseSegment();
    REQUIRE(closed.ok());
    REQUIRE(*closed == SegmentInfo{0, true, 1, 3, kJan1, kFeb1 + 86400 * 400, 2});
    REQUIRE(store->CloseSegment().status().code() == absl::StatusCode::kFailedPrecondition);
    REQUIRE(store->OpenSegment() == SegmentInfo{1, false, 3, 3, 0, 0, 0});
    Append(*store, {Ev("b", "x", 5)});
  }
  auto store = OpenStore(dir);
  REQUIRE(store->ClosedSegments().size() == 1);
  REQUIRE(store->OpenSegment() == SegmentInfo{1, false, 3, 4, 5, 5, 1});
  auto csr0 = store->AccumulatedCsr(0);
  auto csr1 = store->AccumulatedCsr(1);
  REQUIRE(csr0->indices.size() == 2);
  REQUIRE(csr1->indices.size() == 3);
  REQUIRE(csr0->indptr == std::vector<int64_t>{0, 2, 2});  // b's slot exists, empty before its segment
}
