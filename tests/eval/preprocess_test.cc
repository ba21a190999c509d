// De-duplication, k-core fixed point, UTC segment boundaries, reproducible split, dense id order.
#include <algorithm>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "eval/calendar.h"
#include "eval/preprocess.h"

namespace ev = gpt4rec::eval;

namespace {

int64_t Utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return ev::DaysFromCivil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

}  // namespace

TEST_CASE("de-duplication keeps the last occurrence and sorts by time") {
  std::vector<ev::RawEvent> in = {{0, 0, 50}, {0, 1, 10}, {0, 0, 20}, {1, 0, 5}, {0, 1, 10}, {1, 0, 70}};
  auto out = ev::DeduplicateKeepLast(in);
  REQUIRE(out.size() == 3);
  CHECK(out[0].user == 0);
  CHECK(out[0].item == 1);
  CHECK(out[0].time == 10);
  CHECK(out[1].time == 50);  // (0,0): the one at t=50, not t=20
  CHECK(out[2].time == 70);  // (1,0): the one at t=70
}

TEST_CASE("iterative k-core reaches a fixed point") {
  // A 3x3 complete block survives a 3-core. User 3 links to item 0 and a private item 3; item 3 also has user 4;
  // removing item 3 (degree 2) drops user 3 and user 4 below 3 — a cascade that needs more than one round.
  std::vector<ev::RawEvent> ev_in;
  for (int u = 0; u < 3; ++u)
    for (int i = 0; i < 3; ++i) ev_in.push_back({u, i, u * 10 + i});
  ev_in.push_back({3, 0, 100});
  ev_in.push_back({3, 1, 101});
  ev_in.push_back({3, 3, 102});
  ev_in.push_back({4, 3, 103});
  ev_in.push_back({4, 2, 104});
  ev_in.push_back({4, 1, 105});
  int rounds = 0;
  auto core = ev::KCore(ev_in, 3, 3, &rounds);
  CHECK(rounds >= 3);  // removal round(s) plus a final round that removes nothing
  std::set<int32_t> users, items;
  std::map<int32_t, int> ud, id;
  for (const auto& e : core) {
    users.insert(e.user);
    items.insert(e.item);
    ++ud[e.user];
    ++id[e.item];
  }
  CHECK(users == std::set<int32_t>{0, 1, 2});
  CHECK(items == std::set<int32_t>{0, 1, 2});
  for (auto& [u, d] : ud) CHECK(d >= 3);
  for (auto& [i, d] : id) CHECK(d >= 3);
  // Applying it again changes nothing: a fixed point.
  int again = 0;
  CHECK(ev::KCore(core, 3, 3, &again).size() == core.size());
  CHECK(again == 1);
  CHECK(ev::KCore(ev_in, 4, 4).empty());
}

TEST_CASE("calendar periods in UTC: month and year roll-over, day, ISO week, hour") {
  using ev::TimeUnit;
  CHECK(ev::PeriodOf(Utc(2013, 12, 31, 23, 59, 59), TimeUnit::kMonth) + 1 == ev::PeriodOf(Utc(2014, 1, 1), TimeUnit::kMonth));
  CHECK(ev::PeriodLabel(ev::PeriodOf(Utc(2014, 1, 1), TimeUnit::kMonth), TimeUnit::kMonth) == "2014-01");
  CHECK(ev::PeriodStart(ev::PeriodOf(Utc(2012, 2, 29, 12), TimeUnit::kMonth), TimeUnit::kMonth) == Utc(2012, 2, 1));
  CHECK(ev::PeriodOf(Utc(2014, 11, 30, 23, 59, 59), TimeUnit::kDay) + 1 == ev::PeriodOf(Utc(2014, 12, 1), TimeUnit::kDay));
  CHECK(ev::PeriodLabel(ev::PeriodOf(Utc(2014, 12, 1, 7), TimeUnit::kDay), TimeUnit::kDay) == "2014-12-01");
  // 2014-11-17 was a Monday: Sunday 23:59:59 and Monday 00:00 fall in different weeks.
  CHECK(ev::PeriodOf(Utc(2014, 11, 16, 23, 59, 59), TimeUnit::kWeek) + 1 == ev::PeriodOf(Utc(2014, 11, 17), TimeUnit::kWeek));
  CHECK(ev::PeriodOf(Utc(2014, 11, 17), TimeUnit::kWeek) == ev::PeriodOf(Utc(2014, 11, 23, 23), TimeUnit::kWeek));
  CHECK(ev::PeriodStart(ev::PeriodOf(Utc(2014, 11, 20, 5), TimeUnit::kWeek), TimeUnit::kWeek) == Utc(2014, 11, 17));
  CHECK(ev::PeriodOf(Utc(2014, 11, 18, 10, 59, 59), TimeUnit::kHour) + 1 == ev::PeriodOf(Utc(2014, 11, 18, 11), TimeUnit::kHour));
  // Before the epoch floors correctly too.
  CHECK(ev::PeriodOf(-1, TimeUnit::kDay) == -1);
  CHECK(ev::PeriodLabel(ev::PeriodOf(-1, TimeUnit::kMonth), TimeUnit::kMonth) == "1969-12");

  std::vector<ev::RawEvent> events = {{0, 0, Utc(2013, 11, 30, 23)}, {0, 1, Utc(2013, 12, 31, 23, 59, 59)},
                                      {1, 0, Utc(2014, 1, 1)},        {1, 1, Utc(2014, 1, 31)},
                                      {2, 2, Utc(2014, 3, 2)}};
  auto months = ev::CutSegments(events, TimeUnit::kMonth, 0);
  REQUIRE(months.size() == 4);  // Nov, Dec, Jan, Mar (February has no events: no empty segment)
  CHECK(months[1] == std::make_pair<size_t, size_t>(1, 2));
  CHECK(months[2] == std::make_pair<size_t, size_t>(2, 4));
  auto parts = ev::CutSegments(events, TimeUnit::kEqualCount, 2);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].second - parts[0].first + parts[1].second - parts[1].first == 5);
}

TEST_CASE("the per-segment split is a reproducible 80/10/10 permutation") {
  std::vector<size_t> a_tr, a_va, a_te, b_tr, b_va, b_te, c_tr, c_va, c_te;
  ev::SplitIndices(1000, 0.8, 0.1, 42, &a_tr, &a_va, &a_te);
  ev::SplitIndices(1000, 0.8, 0.1, 42, &b_tr, &b_va, &b_te);
  ev::SplitIndices(1000, 0.8, 0.1, 43, &c_tr, &c_va, &c_te);
  CHECK(a_tr.size() == 800);
  CHECK(a_va.size() == 100);
  CHECK(a_te.size() == 100);
  CHECK(a_tr == b_tr);
  CHECK(a_va == b_va);
  CHECK(a_te == b_te);
  CHECK(a_te != c_te);
  std::vector<size_t> all(a_tr);
  all.insert(all.end(), a_va.begin(), a_va.end());
  all.insert(all.end(), a_te.begin(), a_te.end());
  std::sort(all.begin(), all.end());
  for (size_t k = 0; k < all.size(); ++k) REQUIRE(all[k] == k);
  // The first 100 positions of the permutation are not just 0..99: it is shuffled.
  CHECK(std::count_if(a_tr.begin(), a_tr.begin() + 100, [](size_t x) { return x < 100; }) < 50);
}

TEST_CASE("preprocess: dense ids grow segment by segment, accumulated training graph") {
  ev::RawStream raw;
  // 4 users x 6 items in January, then 2 new users and 2 new items in February, all dense enough for a 2-core.
  for (int u = 0; u < 4; ++u)
    for (int i = 0; i < 6; ++i) raw.events.push_back({u, i, Utc(2020, 1, 1 + u + i)});
  for (int u = 0; u < 6; ++u)
    for (int i = 4; i < 8; ++i)
      if (u >= 4 || i >= 6) raw.events.push_back({u, i, Utc(2020, 2, 1 + u + i)});
  raw.events.push_back({0, 0, Utc(2020, 2, 20)});  // a repeat: de-duplication keeps this, moving it to February
  ev::PreprocessOptions o;
  o.user_core = 2;
  o.item_core = 2;
  o.unit = ev::TimeUnit::kMonth;
  auto s = ev::Preprocess(raw, o);
  REQUIRE(s.ok());
  REQUIRE(s->segments.size() == 2);
  const auto& jan = s->segments[0];
  const auto& feb = s->segments[1];
  CHECK(jan.label == "2020-01");
  CHECK(feb.label == "2020-02");
  CHECK(jan.num_users == 4);
  CHECK(feb.num_users == 6);
  CHECK(feb.new_users == 2);
  CHECK(feb.new_items == 2);
  CHECK(jan.train.size() + jan.valid.size() + jan.test.size() == 23);
  CHECK(s->events_after_dedup == static_cast<int64_t>(raw.events.size()) - 1);
  for (const auto* split : {&feb.train, &feb.valid, &feb.test}) {
    for (const auto& x : *split) {
      CHECK(x.user < feb.num_users);
      CHECK(x.item < feb.num_items);
    }
  }
  // Users first seen in February get ids >= January's count (raw users 4 and 5).
  CHECK(s->user_raw[4] >= 4);
  CHECK(s->user_raw[5] >= 4);
  auto g = ev::AccumulatedTrainingGraph(*s, 1);
  CHECK(g.num_users == 6);
  CHECK(g.num_items == 8);
  CHECK(g.indices.size() == jan.train.size() + feb.train.size());
  for (int u = 0; u < g.num_users; ++u) CHECK(std::is_sorted(g.indices.begin() + g.indptr[u], g.indices.begin() + g.indptr[u + 1]));
  // Edge ages: January's training edges are one segment old in February's graph, February's are new.
  REQUIRE(g.edge_age.size() == g.indices.size());
  CHECK(std::count(g.edge_age.begin(), g.edge_age.end(), 1) == static_cast<long>(jan.train.size()));
  CHECK(std::count(g.edge_age.begin(), g.edge_age.end(), 0) == static_cast<long>(feb.train.size()));
  for (const auto& x : feb.train) {
    const auto row = g.indices.begin() + g.indptr[x.user];
    const auto at = std::lower_bound(row, g.indices.begin() + g.indptr[x.user + 1], x.item) - g.indices.begin();
    CHECK(g.edge_age[at] == 0);
  }
  auto g0 = ev::AccumulatedTrainingGraph(*s, 0);
  CHECK(g0.num_users == 4);
  CHECK(g0.indices.size() == jan.train.size());
  CHECK(std::all_of(g0.edge_age.begin(), g0.edge_age.end(), [](int32_t a) { return a == 0; }));

  o.user_core = 50;
  auto empty = ev::Preprocess(raw, o);
  REQUIRE_FALSE(empty.ok());
  CHECK(std::string(empty.status().message()).find("50/2-core") != std::string::npos);
}
