// Synthetic streams in each dataset's raw format (profiles and sources: eval/PROFILES.md).
//
// Generative story, per profile and scale:
//  * Users and items arrive over the segments (a base share in segment 0, the rest evenly later): every segment
//    brings new nodes, as in the real streams.
//  * Planted communities: every item belongs to one; every user has a current community that moves to the next
//    one with probability drift_per_segment at each segment boundary (preference drift), and picks 80% of its
//    items from it, 20% from anywhere.
//  * Popularity skew: within a community, item appeal is Zipf(popularity_zipf) over a random rank, times an age
//    decay exp(-age / item_lifetime), so yesterday's hits fade and new items take over (popularity drift).
//  * Users are most active right after they arrive (half their activity is a burst that decays geometrically,
//    half is spread evenly over the remaining segments); about
//    8% of events repeat one of the user's earlier items, so de-duplication has work to do.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "eval/calendar.h"
#include "eval/synth.h"
#include "util/atomic_file.h"
#include "util/split_mix64.h"

namespace gpt4rec::eval {
namespace {

int64_t Utc(int y, unsigned m, unsigned d) { return DaysFromCivil(y, m, d) * 86400; }

struct Event {
  int32_t user;
  int32_t item;
  int64_t time;
};

const char* const kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Civil {
  int64_t year;
  unsigned month, day;
  int hour, minute, second;
  int weekday;  // 0 = Sunday
};

// The fields the raw formats print, in the types their printf formats expect.
Civil CivilOf(int64_t t) {
  const absl::CivilSecond cs = ToCivil(t);
  Civil c;
  c.year = cs.year();
  c.month = static_cast<unsigned>(cs.month());
  c.day = static_cast<unsigned>(cs.day());
  c.hour = cs.hour();
  c.minute = cs.minute();
  c.second = cs.second();
  c.weekday = (static_cast<int>(absl::GetWeekday(cs)) + 1) % 7;  // absl counts from Monday
  return c;
}


}  // namespace

absl::StatusOr<SynthProfile> GetSynthProfile(const std::string& name) {
  // users/items/interactions: the datasets' sizes after the protocol's preprocessing, as reported in the DEGC
  // paper's statistics table (from memory: treat as estimates, see PROFILES.md). Shape parameters (arrival shares,
  // skew, communities, drift, item lifetime) are estimates chosen to resemble each domain.
  if (name == "taobao2014") {
    return SynthProfile{name, Format::kTaobao2014, TimeUnit::kDay, 31, Utc(2014, 11, 18),
                        8844, 39103, 749438, 0.55, 0.45, 1.1, 24, 0.04, 8.0};
  }
  if (name == "taobao2015") {
    return SynthProfile{name, Format::kTaobao2015, TimeUnit::kDay, 30, Utc(2015, 7, 2),
                        92605, 9842, 9767444, 0.45, 0.6, 1.2, 16, 0.04, 12.0};
  }
  if (name == "netflix") {
    return SynthProfile{name, Format::kNetflix, TimeUnit::kMonth, 72, Utc(2000, 1, 1),
                        301750, 9026, 49429742, 0.05, 0.35, 1.2, 20, 0.03, 24.0};
  }
  if (name == "foursquare") {
    return SynthProfile{name, Format::kFoursquare, TimeUnit::kMonth, 22, Utc(2012, 4, 1),
                        52032, 37181, 2111567, 0.3, 0.4, 1.0, 30, 0.05, 10.0};
  }
  return absl::InvalidArgumentError("profile: '" + name + "' is not one of taobao2014, taobao2015, netflix, foursquare");
}

absl::StatusOr<SynthStats> WriteSynthetic(const SynthOptions& options) {
  auto profile_or = GetSynthProfile(options.profile);
  if (!profile_or.ok()) return profile_or.status();
  const SynthProfile& p = *profile_or;
  if (!(options.scale > 0) || options.scale > 1) return absl::InvalidArgumentError("scale: must be in (0, 1]");
  if (options.out.empty()) return absl::InvalidArgumentError("out: no output path");

  // Scaling keeps each user's activity; items shrink with the scale but never below a floor that leaves
  // ranking meaningful (top-20 out of fewer than ~150 items is nearly trivial) and leaves a user more items
  // than their activity (10x the mean interactions per user).
  const int S = p.segments;
  const int64_t U = std::max<int64_t>(40, std::llround(p.users * options.scale));
  const double per_user = static_cast<double>(p.interactions) / static_cast<double>(p.users);
  const int64_t I = std::max<int64_t>(std::max<int64_t>(150, std::llround(10 * per_user)),
                                      std::llround(p.items * options.scale));
  // A community holds at least a mean user's activity worth of items, or users exhaust their community and the
  // popularity skew flattens.
  const int C = std::max(2, std::min<int>(p.communities, static_cast<int>(static_cast<double>(I) / per_user)));
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  auto arrival = [&](int64_t idx, int64_t n, double base) {
    const int64_t n_base = std::llround(base * static_cast<double>(n));
    if (idx < n_base || S == 1) return 0;
    return 1 + static_cast<int>((idx - n_base) * (S - 1) / std::max<int64_t>(1, n - n_base));
  };
  std::vector<int> item_arrival(I), item_comm(I);
  std::vector<double> item_appeal(I);
  {
    std::vector<int64_t> rank(I);
    for (int64_t i = 0; i < I; ++i) rank[i] = i;
    std::shuffle(rank.begin(), rank.end(), rng);
    for (int64_t i = 0; i < I; ++i) {
      item_arrival[i] = arrival(i, I, p.base_item_fraction);
      item_comm[i] = static_cast<int>(util::SplitMix64(i + options.seed) % C);
      // Zipf over the item's rank within its community (rank / C), plus a small floor so tail items can still
      // reach the k-core.
      item_appeal[i] = 1.0 / std::pow(1.0 + static_cast<double>(rank[i]) / C, p.popularity_zipf) + 0.01;
    }
  }
  // Per user: arrival, total activity (lognormal around the profile's mean), home community.
  std::vector<int> user_arrival(U), user_comm(U);
  std::vector<double> user_total(U);
  std::lognormal_distribution<double> activity(0.0, 0.6);
  for (int64_t u = 0; u < U; ++u) {
    user_arrival[u] = arrival(u, U, p.base_user_fraction);
    user_comm[u] = static_cast<int>(rng() % C);
    user_total[u] = per_user * activity(rng) / std::exp(0.18);  // E[lognormal(0, .6)] = e^0.18
  }
  // Period boundaries of the profile's unit.
  std::vector<int64_t> seg_start(S + 1);
  {
    const int64_t first = PeriodOf(p.first_period_start, p.unit);
    for (int t = 0; t <= S; ++t) seg_start[t] = PeriodStart(first + t, p.unit);
  }
  std::vector<Event> events;
  std::vector<std::vector<int32_t>> history(U);
  std::vector<std::vector<double>> comm_cdf(C);
  std::vector<std::vector<int32_t>> comm_items(C);
  for (int t = 0; t < S; ++t) {
    for (auto& v : comm_cdf) v.clear();
    for (auto& v : comm_items) v.clear();
    for (int64_t i = 0; i < I; ++i) {
      if (item_arrival[i] > t) continue;
      const double w = item_appeal[i] * std::exp(-(t - item_arrival[i]) / p.item_lifetime) + 1e-6;
      auto& cdf = comm_cdf[item_comm[i]];
      cdf.push_back((cdf.empty() ? 0 : cdf.back()) + w);
      comm_items[item_comm[i]].push_back(static_cast<int32_t>(i));
    }
    for (int64_t u = 0; u < U; ++u) {
      if (user_arrival[u] > t) continue;
      if (t > user_arrival[u] && unit(rng) < p.drift_per_segment) user_comm[u] = (user_comm[u] + 1) % C;
      // Half of a user's activity is a burst right after arrival (geometric decay), half is spread evenly over
      // the rest of the stream, so segment volumes stay steady while new users are the most active.
      const int age = t - user_arrival[u];
      const int span = S - user_arrival[u];
      const double decay = 0.6;
      const double norm = (1 - std::pow(decay, span)) / (1 - decay);
      const double expected = user_total[u] * (0.5 * std::pow(decay, age) / norm + 0.5 / span);
      std::poisson_distribution<int> count(std::max(0.01, expected));
      const int n = count(rng);
      for (int k = 0; k < n; ++k) {
        int32_t item = -1;
        if (!history[u].empty() && unit(rng) < 0.08) {
          item = history[u][rng() % history[u].size()];  // a repeat: de-duplication keeps the last
        } else {
          for (int attempt = 0; attempt < 8 && item < 0; ++attempt) {
            int c = unit(rng) < 0.8 ? user_comm[u] : static_cast<int>(rng() % C);
            const auto& cdf = comm_cdf[c];
            if (cdf.empty()) continue;
            const double x = unit(rng) * cdf.back();
            size_t pos = static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
            if (pos >= cdf.size()) pos = cdf.size() - 1;
            const int32_t cand = comm_items[c][pos];
            if (std::find(history[u].begin(), history[u].end(), cand) == history[u].end()) item = cand;
          }
          if (item < 0) continue;
          history[u].push_back(item);
        }
        const int64_t len = seg_start[t + 1] - seg_start[t];
        events.push_back({static_cast<int32_t>(u), item, seg_start[t] + static_cast<int64_t>(unit(rng) * len)});
      }
    }
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });

  SynthStats stats;
  stats.users = U;
  stats.items = I;
  stats.segments = S;
  bool has_writer = true;
  auto write = [&](std::ostream& out) {
    char buf[256];
    switch (p.format) {
      case Format::kTaobao2014: {
        out << "user_id,item_id,behavior_type,user_geohash,item_category,time\n";
        static const char kGeo[] = "0123456789bcdefghjkmnpqrstuvwxyz";
        for (const Event& e : events) {
          const Civil c = CivilOf(e.time);
          const double r = unit(rng);
          const int behavior = r < 0.90 ? 1 : r < 0.93 ? 2 : r < 0.97 ? 3 : 4;
          std::string geo;
          if (unit(rng) < 0.3) {
            uint64_t h = util::SplitMix64(e.user * 31 + 7);
            for (int k = 0; k < 7; ++k, h >>= 5) geo += kGeo[h & 31];
          }
          std::snprintf(buf, sizeof(buf), "%llu,%llu,%d,%s,%d,%04lld-%02u-%02u %02d\n",
                        static_cast<unsigned long long>(1000000 + util::SplitMix64(e.user) % 140000000),
                        static_cast<unsigned long long>(1000 + util::SplitMix64(e.item + (1ULL << 40)) % 400000000), behavior,
                        geo.c_str(), 1000 + item_comm[e.item] * 37 % 13000, static_cast<long long>(c.year), c.month,
                        c.day, c.hour);
          out << buf;
          ++stats.lines;
        }
        break;
      }
      case Format::kTaobao2015: {
        out << "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n";
        for (const Event& e : events) {
          const Civil c = CivilOf(e.time);
          const double r = unit(rng);
          const int act = r < 0.88 ? 0 : r < 0.93 ? 1 : r < 0.98 ? 2 : 3;
          std::snprintf(buf, sizeof(buf), "%d,%d,%llu,%d,%d,%04lld%02u%02u\n", e.user + 1, e.item + 1,
                        static_cast<unsigned long long>(util::SplitMix64(e.item * 1000003ULL + (rng() % 20)) % 2000000 + 1),
                        item_comm[e.item] + 1, act, static_cast<long long>(c.year), c.month, c.day);
          out << buf;
          ++stats.lines;
        }
        break;
      }
      case Format::kNetflix: {
        // combined_data_N.txt layout: grouped by movie, each block opened by "MovieID:".
        std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.item < b.item; });
        int32_t current = -1;
        for (const Event& e : events) {
          if (e.item != current) {
            current = e.item;
            out << current + 1 << ":\n";
            ++stats.lines;
          }
          const Civil c = CivilOf(e.time);
          const int rating = 1 + static_cast<int>(util::SplitMix64(static_cast<uint64_t>(e.user) * 7919 + e.item) % 5);
          std::snprintf(buf, sizeof(buf), "%d,%d,%04lld-%02u-%02u\n", 6 + e.user * 7, rating,
                        static_cast<long long>(c.year), c.month, c.day);
          out << buf;
          ++stats.lines;
        }
        break;
      }
      case Format::kFoursquare: {
        static const int kOffsets[] = {-300, -240, -180, 0, 60, 120, 180, 420, 480, 540};
        for (const Event& e : events) {
          const Civil c = CivilOf(e.time);
          const uint64_t a = util::SplitMix64(e.item + 17), b = util::SplitMix64(e.item + 91);
          std::snprintf(buf, sizeof(buf), "%d\t%08llx%016llx\t%s %s %02u %02d:%02d:%02d +0000 %04lld\t%d\n", e.user + 1,
                        static_cast<unsigned long long>(a & 0xffffffffULL), static_cast<unsigned long long>(b),
                        kWeekdays[c.weekday], kMonths[c.month - 1], c.day, c.hour, c.minute, c.second,
                        static_cast<long long>(c.year), kOffsets[util::SplitMix64(e.user) % 10]);
          out << buf;
          ++stats.lines;
        }
        break;
      }
      default:
        has_writer = false;
    }
  };
  if (absl::Status s = util::WriteFileAtomically(options.out, write); !s.ok()) return s;
  if (!has_writer) return absl::InternalError("profile has no raw format writer");
  return stats;
}

}  // namespace gpt4rec::eval
