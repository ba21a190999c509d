// Test utility (torch-free): a streaming bipartite graph with planted communities that drift across segments,
// split per segment 80/10/10 like the replay protocol, plus the accumulated CSR the model consumes and a
// Recall@20 reference implementation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "model/recommender_model.h"

namespace gpt4rec::testing {

struct StreamSpec {
  int segments = 4;
  int communities = 8;
  int users0 = 400, new_users_per_segment = 80;
  int items0 = 240, new_items_per_segment = 40;
  int interactions_per_user = 12;  // per active user and segment
  double in_community = 0.9;       // probability an interaction stays in the user's community
  double drift = 0.3;              // share of old users that move to another community at each segment
  double active = 0.6;             // share of old users active in a segment
  uint64_t seed = 7;
};

struct StreamSegment {
  int32_t num_users = 0, num_items = 0;  // id space after this segment
  std::vector<model::Interaction> train, valid, test;
};

inline std::vector<StreamSegment> MakeDriftingStream(const StreamSpec& s) {
  std::mt19937_64 rng(s.seed);
  std::vector<int> user_comm, item_comm;
  std::vector<std::vector<int32_t>> comm_items(s.communities);
  std::set<std::pair<int32_t, int32_t>> seen;
  std::vector<StreamSegment> out;
  auto add_items = [&](int n) {
    for (int k = 0; k < n; ++k) {
      int c = static_cast<int>(rng() % s.communities);
      comm_items[c].push_back(static_cast<int32_t>(item_comm.size()));
      item_comm.push_back(c);
    }
  };
  auto add_users = [&](int n) {
    for (int k = 0; k < n; ++k) user_comm.push_back(static_cast<int>(rng() % s.communities));
  };
  std::uniform_real_distribution<double> unit(0, 1);
  for (int t = 0; t < s.segments; ++t) {
    const int old_users = static_cast<int>(user_comm.size());
    if (t > 0)
      for (int u = 0; u < old_users; ++u)
        if (unit(rng) < s.drift) user_comm[u] = static_cast<int>((user_comm[u] + 1 + rng() % (s.communities - 1)) % s.communities);
    add_users(t == 0 ? s.users0 : s.new_users_per_segment);
    add_items(t == 0 ? s.items0 : s.new_items_per_segment);
    std::vector<model::Interaction> events;
    for (int u = 0; u < static_cast<int>(user_comm.size()); ++u) {
      if (u < old_users && unit(rng) > s.active) continue;
      for (int k = 0; k < s.interactions_per_user; ++k) {
        int32_t item;
        if (unit(rng) < s.in_community) {
          const auto& pool = comm_items[user_comm[u]];
          if (pool.empty()) continue;
          // Mild popularity skew inside a community (squared uniform favours the community's first items).
          double r = unit(rng);
          item = pool[static_cast<size_t>(r * r * pool.size())];
        } else {
          item = static_cast<int32_t>(rng() % item_comm.size());
        }
        if (seen.insert({u, item}).second) events.push_back({u, item});
      }
    }
    std::shuffle(events.begin(), events.end(), rng);
    StreamSegment seg;
    seg.num_users = static_cast<int32_t>(user_comm.size());
    seg.num_items = static_cast<int32_t>(item_comm.size());
    const size_t n_train = events.size() * 8 / 10, n_valid = events.size() / 10;
    seg.train.assign(events.begin(), events.begin() + n_train);
    seg.valid.assign(events.begin() + n_train, events.begin() + n_train + n_valid);
    seg.test.assign(events.begin() + n_train + n_valid, events.end());
    out.push_back(std::move(seg));
  }
  return out;
}

// One segment shaped like a real interaction log rather than clean communities: item popularity follows a power law
// (rank^-1), user activity is skewed (5..80 interactions, most users near the bottom), and half of a user's
// interactions follow the global popularity, half their taste group's own popular items. Pop is a strong baseline
// here, as on ml-100k and Koubei.
inline StreamSegment MakeRealShapedSegment(int users, int items, int groups, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  // Popularity by rank: P(rank r) ∝ 1 / (r + 5), sampled by inverting the cumulative sum.
  auto make_sampler = [&](const std::vector<int32_t>& pool) {
    std::vector<double> cum;
    double total = 0;
    for (size_t r = 0; r < pool.size(); ++r) cum.push_back(total += 1.0 / (static_cast<double>(r) + 5));
    return [pool, cum, total](double u) {
      return pool[std::lower_bound(cum.begin(), cum.end(), u * total) - cum.begin()];
    };
  };
  std::vector<int32_t> all(items);
  for (int32_t i = 0; i < items; ++i) all[i] = i;
  std::shuffle(all.begin(), all.end(), rng);  // global popularity order
  auto global = make_sampler(all);
  std::vector<std::vector<int32_t>> group_items(groups);
  for (int32_t i = 0; i < items; ++i) group_items[rng() % groups].push_back(i);
  std::vector<std::function<int32_t(double)>> by_group;
  for (auto& g : group_items) {
    std::shuffle(g.begin(), g.end(), rng);  // the group's own order, unrelated to the global one
    by_group.push_back(make_sampler(g));
  }
  std::set<std::pair<int32_t, int32_t>> seen;
  std::vector<model::Interaction> events;
  for (int32_t u = 0; u < users; ++u) {
    const int group = static_cast<int>(rng() % groups);
    const double a = unit(rng);
    const int n = 5 + static_cast<int>(75 * a * a * a);
    for (int k = 0; k < n; ++k) {
      const int32_t item = unit(rng) < 0.5 ? global(unit(rng)) : by_group[group](unit(rng));
      if (seen.insert({u, item}).second) events.push_back({u, item});
    }
  }
  std::shuffle(events.begin(), events.end(), rng);
  StreamSegment seg;
  seg.num_users = users;
  seg.num_items = items;
  const size_t n_train = events.size() * 8 / 10, n_valid = events.size() / 10;
  seg.train.assign(events.begin(), events.begin() + n_train);
  seg.valid.assign(events.begin() + n_train, events.begin() + n_train + n_valid);
  seg.test.assign(events.begin() + n_train + n_valid, events.end());
  return seg;
}

// CSR of the training edges of segments 0..t (user-major, rows sorted).
inline model::Graph AccumulatedGraph(const std::vector<StreamSegment>& stream, int t) {
  model::Graph g;
  g.num_users = stream[t].num_users;
  g.num_items = stream[t].num_items;
  std::vector<std::vector<std::pair<int32_t, int32_t>>> rows(g.num_users);  // (item, age in segments)
  for (int s = 0; s <= t; ++s)
    for (const auto& e : stream[s].train) rows[e.user].emplace_back(e.item, t - s);
  g.indptr.push_back(0);
  for (auto& r : rows) {
    std::sort(r.begin(), r.end());
    for (const auto& [item, age] : r) {
      g.indices.push_back(item);
      g.edge_age.push_back(age);
    }
    g.indptr.push_back(static_cast<int64_t>(g.indices.size()));
  }
  return g;
}

// Segment t of `stream` as a model update: its train and validation splits over `g` (which must outlive it).
inline model::SegmentInput SegmentInputOf(const std::vector<StreamSegment>& stream, int t, const model::Graph& g) {
  model::SegmentInput in;
  in.graph = &g;
  in.train = stream[t].train;
  in.valid = stream[t].valid;
  return in;
}

// Recall@20 of a score matrix (users × num_items, row-major) against `test`, excluding the graph's edges.
inline double Recall20(const model::Graph& g, const std::vector<int32_t>& users, const std::vector<float>& scores,
                       const std::vector<std::vector<int32_t>>& truth) {
  double sum = 0;
  const int32_t I = g.num_items;
  for (size_t r = 0; r < users.size(); ++r) {
    std::vector<float> row(scores.begin() + r * I, scores.begin() + (r + 1) * I);
    const int32_t u = users[r];
    if (u < g.num_users)
      for (int64_t j = g.indptr[u]; j < g.indptr[u + 1]; ++j) row[g.indices[j]] = -1e30f;
    std::vector<int32_t> order(I);
    for (int32_t i = 0; i < I; ++i) order[i] = i;
    const int k = std::min<int32_t>(20, I);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    int hits = 0;
    for (int c = 0; c < k; ++c) hits += std::count(truth[r].begin(), truth[r].end(), order[c]) > 0;
    sum += static_cast<double>(hits) / truth[r].size();
  }
  return users.empty() ? 0 : sum / users.size();
}

// Groups edges by user: users (ascending) and their items.
inline void GroupByUser(const std::vector<model::Interaction>& edges, int32_t num_users, int32_t num_items,
                        std::vector<int32_t>* users, std::vector<std::vector<int32_t>>* items) {
  std::vector<std::vector<int32_t>> by(num_users);
  for (const auto& e : edges)
    if (e.user < num_users && e.item < num_items) by[e.user].push_back(e.item);
  for (int32_t u = 0; u < num_users; ++u)
    if (!by[u].empty()) {
      users->push_back(u);
      items->push_back(by[u]);
    }
}

}  // namespace gpt4rec::testing
