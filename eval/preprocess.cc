// The protocol's preprocessing (design page §5 steps 1–5): range filter, de-duplication keeping the last,
// iterative k-core, calendar segments in UTC, dense ids in order of first appearance, seeded 80/10/10 split.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "eval/calendar.h"
#include "eval/preprocess.h"
#include "util/split_mix64.h"

namespace gpt4rec::eval {
namespace {

int64_t UtcSeconds(int y, unsigned m, unsigned d) { return DaysFromCivil(y, m, d) * 86400; }

}  // namespace

std::vector<RawEvent> DeduplicateKeepLast(std::vector<RawEvent> events) {
  std::stable_sort(events.begin(), events.end(),
                   [](const RawEvent& a, const RawEvent& b) { return a.time < b.time; });
  absl::flat_hash_set<uint64_t> seen;
  seen.reserve(events.size());
  std::vector<char> keep(events.size(), 0);
  for (size_t k = events.size(); k-- > 0;) {
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(events[k].user)) << 32) |
                   static_cast<uint32_t>(events[k].item);
    keep[k] = seen.insert(key).second;
  }
  size_t w = 0;
  for (size_t k = 0; k < events.size(); ++k) {
    if (keep[k]) events[w++] = events[k];
  }
  events.resize(w);
  return events;
}

std::vector<RawEvent> KCore(std::vector<RawEvent> events, int user_core, int item_core, int* rounds) {
  int32_t max_user = -1, max_item = -1;
  for (const RawEvent& e : events) {
    max_user = std::max(max_user, e.user);
    max_item = std::max(max_item, e.item);
  }
  std::vector<int64_t> user_deg(max_user + 1), item_deg(max_item + 1);
  int r = 0;
  while (true) {
    std::fill(user_deg.begin(), user_deg.end(), 0);
    std::fill(item_deg.begin(), item_deg.end(), 0);
    for (const RawEvent& e : events) {
      ++user_deg[e.user];
      ++item_deg[e.item];
    }
    size_t w = 0;
    for (const RawEvent& e : events) {
      if (user_deg[e.user] >= user_core && item_deg[e.item] >= item_core) events[w++] = e;
    }
    ++r;
    if (w == events.size()) break;  // fixed point: nothing removed this round
    events.resize(w);
  }
  if (rounds != nullptr) *rounds = r;
  return events;
}

std::vector<std::pair<size_t, size_t>> CutSegments(const std::vector<RawEvent>& events, TimeUnit unit,
                                                   int equal_count) {
  std::vector<std::pair<size_t, size_t>> out;
  const size_t n = events.size();
  if (n == 0) return out;
  if (unit == TimeUnit::kEqualCount) {
    const size_t parts = static_cast<size_t>(std::max(1, equal_count));
    for (size_t p = 0; p < parts; ++p) {
      size_t b = n * p / parts, e = n * (p + 1) / parts;
      if (e > b) out.emplace_back(b, e);
    }
    return out;
  }
  size_t begin = 0;
  int64_t period = PeriodOf(events[0].time, unit);
  for (size_t k = 1; k < n; ++k) {
    int64_t p = PeriodOf(events[k].time, unit);
    if (p != period) {
      out.emplace_back(begin, k);
      begin = k;
      period = p;
    }
  }
  out.emplace_back(begin, n);
  return out;
}

void SplitIndices(size_t n, double train_fraction, double valid_fraction, uint64_t seed, std::vector<size_t>* train,
                  std::vector<size_t>* valid, std::vector<size_t>* test) {
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  // Own Fisher–Yates on SplitMix64: std::shuffle's draws differ between standard libraries, and the split must be
  // reproducible everywhere from the seed alone.
  uint64_t state = seed;
  for (size_t i = n; i > 1; --i) {
    state = util::SplitMix64(state);
    size_t j = static_cast<size_t>(state % i);
    std::swap(perm[i - 1], perm[j]);
  }
  size_t n_train = std::min(n, static_cast<size_t>(std::llround(static_cast<double>(n) * train_fraction)));
  size_t n_valid =
      std::min(n - n_train, static_cast<size_t>(std::llround(static_cast<double>(n) * valid_fraction)));
  train->assign(perm.begin(), perm.begin() + n_train);
  valid->assign(perm.begin() + n_train, perm.begin() + n_train + n_valid);
  test->assign(perm.begin() + n_train + n_valid, perm.end());
}

absl::StatusOr<SegmentedStream> Preprocess(const RawStream& raw, const PreprocessOptions& options) {
  if (options.user_core < 0 || options.item_core < 0) {
    return absl::InvalidArgumentError("user_core/item_core: must be >= 0");
  }
  if (options.train_fraction <= 0 || options.valid_fraction < 0 ||
      options.train_fraction + options.valid_fraction >= 1) {
    return absl::InvalidArgumentError("train_fraction/valid_fraction: need 0 < train, 0 <= valid, train+valid < 1");
  }
  SegmentedStream out;
  out.events_in = static_cast<int64_t>(raw.events.size());
  std::vector<RawEvent> events;
  events.reserve(raw.events.size());
  for (const RawEvent& e : raw.events) {
    if (e.time >= options.from_time && e.time < options.to_time) events.push_back(e);
  }
  out.events_after_range = static_cast<int64_t>(events.size());
  events = DeduplicateKeepLast(std::move(events));
  out.events_after_dedup = static_cast<int64_t>(events.size());
  events = KCore(std::move(events), options.user_core, options.item_core, &out.kcore_rounds);
  out.events_after_kcore = static_cast<int64_t>(events.size());
  if (events.empty()) {
    return absl::FailedPreconditionError(
        "no interactions left: " + std::to_string(out.events_in) + " read, " +
        std::to_string(out.events_after_range) + " in the time range, " + std::to_string(out.events_after_dedup) +
        " after de-duplication, 0 after the " + std::to_string(options.user_core) + "/" +
        std::to_string(options.item_core) + "-core");
  }
  auto ranges = CutSegments(events, options.unit, options.equal_count_segments);
  if (options.max_segments > 0 && ranges.size() > static_cast<size_t>(options.max_segments)) {
    ranges.resize(options.max_segments);
  }

  std::vector<int32_t> user_dense, item_dense;  // interned raw id -> dense id, -1 = not yet seen
  for (const RawEvent& e : events) {
    if (e.user >= static_cast<int32_t>(user_dense.size())) user_dense.resize(e.user + 1, -1);
    if (e.item >= static_cast<int32_t>(item_dense.size())) item_dense.resize(e.item + 1, -1);
  }
  std::vector<model::Interaction> mapped;
  std::vector<size_t> tr, va, te;
  for (size_t t = 0; t < ranges.size(); ++t) {
    Segment seg;
    const auto [b, e] = ranges[t];
    seg.start_time = events[b].time;
    seg.end_time = events[e - 1].time;
    seg.label = options.unit == TimeUnit::kEqualCount ? "part" + std::to_string(t)
                                                      : PeriodLabel(PeriodOf(seg.start_time, options.unit), options.unit);
    const int32_t users_before = static_cast<int32_t>(out.user_raw.size());
    const int32_t items_before = static_cast<int32_t>(out.item_raw.size());
    mapped.clear();
    for (size_t k = b; k < e; ++k) {
      int32_t& u = user_dense[events[k].user];
      if (u < 0) {
        u = static_cast<int32_t>(out.user_raw.size());
        out.user_raw.push_back(events[k].user);
      }
      int32_t& i = item_dense[events[k].item];
      if (i < 0) {
        i = static_cast<int32_t>(out.item_raw.size());
        out.item_raw.push_back(events[k].item);
      }
      mapped.push_back({u, i});
    }
    seg.num_users = static_cast<int32_t>(out.user_raw.size());
    seg.num_items = static_cast<int32_t>(out.item_raw.size());
    seg.new_users = seg.num_users - users_before;
    seg.new_items = seg.num_items - items_before;
    SplitIndices(mapped.size(), options.train_fraction, options.valid_fraction,
                 util::SplitMix64(options.seed ^ util::SplitMix64(t + 1)), &tr, &va, &te);
    for (size_t k : tr) seg.train.push_back(mapped[k]);
    for (size_t k : va) seg.valid.push_back(mapped[k]);
    for (size_t k : te) seg.test.push_back(mapped[k]);
    out.segments.push_back(std::move(seg));
  }
  return out;
}

DatasetDefaults DefaultsFor(Format format) {
  DatasetDefaults d;
  switch (format) {
    case Format::kTaobao2014:
      d = {10, 10, TimeUnit::kDay, UtcSeconds(2014, 11, 18), UtcSeconds(2014, 12, 19)};
      break;
    case Format::kTaobao2015:
      d = {20, 20, TimeUnit::kDay, UtcSeconds(2015, 7, 2), UtcSeconds(2015, 8, 1)};
      break;
    case Format::kNetflix:
      d = {30, 30, TimeUnit::kMonth, UtcSeconds(2000, 1, 1), UtcSeconds(2006, 1, 1)};
      break;
    case Format::kFoursquare:
      d = {20, 20, TimeUnit::kMonth, UtcSeconds(2012, 4, 1), UtcSeconds(2014, 2, 1)};
      break;
    case Format::kRecbole:
    case Format::kCsv:
      break;  // 10/10, month, no range
  }
  return d;
}

PreprocessOptions PreprocessDefaultsFor(Format format) {
  const DatasetDefaults d = DefaultsFor(format);
  PreprocessOptions o;
  o.user_core = d.user_core;
  o.item_core = d.item_core;
  o.unit = d.unit;
  o.from_time = d.from_time;
  o.to_time = d.to_time;
  return o;
}

model::Graph AccumulatedTrainingGraph(const SegmentedStream& stream, size_t t) {
  model::Graph g;
  const Segment& last = stream.segments.at(t);
  g.num_users = last.num_users;
  g.num_items = last.num_items;
  g.indptr.assign(static_cast<size_t>(g.num_users) + 1, 0);
  for (size_t s = 0; s <= t; ++s) {
    for (const model::Interaction& x : stream.segments[s].train) ++g.indptr[x.user + 1];
  }
  for (int32_t u = 0; u < g.num_users; ++u) g.indptr[u + 1] += g.indptr[u];
  g.indices.resize(static_cast<size_t>(g.indptr.back()));
  // Edges go in as (item, age) pairs so that each row can be sorted by item with its age alongside.
  std::vector<std::pair<int32_t, int32_t>> edges(g.indices.size());
  std::vector<int64_t> fill(g.indptr.begin(), g.indptr.end() - 1);
  for (size_t s = 0; s <= t; ++s) {
    const int32_t age = static_cast<int32_t>(t - s);
    for (const model::Interaction& x : stream.segments[s].train) edges[fill[x.user]++] = {x.item, age};
  }
  g.edge_age.resize(edges.size());
  for (int32_t u = 0; u < g.num_users; ++u) {
    std::sort(edges.begin() + g.indptr[u], edges.begin() + g.indptr[u + 1]);
    for (int64_t j = g.indptr[u]; j < g.indptr[u + 1]; ++j) {
      g.indices[j] = edges[j].first;
      g.edge_age[j] = edges[j].second;
    }
  }
  return g;
}

}  // namespace gpt4rec::eval
