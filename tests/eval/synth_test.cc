// Every synthetic profile writes its dataset's raw format, which its loader reads back without a bad line, and
// the stream has the profile's shape after the protocol's preprocessing.
#include <algorithm>
#include <fstream>

#include <catch2/catch.hpp>

#include "eval/loaders.h"
#include "eval/preprocess.h"
#include "eval/synth.h"
#include "tests/common/temp_dir.h"

namespace ev = gpt4rec::eval;

TEST_CASE("synthetic profiles round-trip through their loaders with the profile's shape") {
  gpt4rec::testing::TempDir dir;
  const std::vector<std::pair<std::string, double>> profiles = {
      {"taobao2014", 0.02}, {"taobao2015", 0.005}, {"netflix", 0.001}, {"foursquare", 0.01}};
  for (const auto& [name, scale] : profiles) {
    SECTION(name) {
      auto profile = ev::GetSynthProfile(name);
      REQUIRE(profile.ok());
      ev::SynthOptions so;
      so.profile = name;
      so.scale = scale;
      so.out = dir / (name + ".txt");
      auto stats = ev::WriteSynthetic(so);
      REQUIRE(stats.ok());
      ev::LoadOptions lo;
      lo.format = profile->format;
      lo.inputs = {so.out};
      auto raw = ev::LoadStream(lo);  // strict: any malformed line fails the test
      REQUIRE(raw.ok());
      CHECK(raw->bad_lines == 0);
      const ev::PreprocessOptions po = ev::PreprocessDefaultsFor(profile->format);
      auto s = ev::Preprocess(*raw, po);
      REQUIRE(s.ok());
      CHECK(static_cast<int>(s->segments.size()) == profile->segments);
      CHECK(s->events_after_dedup < s->events_after_range);  // repeats exist
      // Most users survive the dataset's k-core at this scale.
      CHECK(static_cast<double>(s->user_raw.size()) > 0.6 * static_cast<double>(stats->users));
      int with_new_users = 0, with_new_items = 0;
      for (size_t t = 1; t < s->segments.size(); ++t) {
        with_new_users += s->segments[t].new_users > 0;
        with_new_items += s->segments[t].new_items > 0;
      }
      const double incremental = static_cast<double>(s->segments.size() - 1);
      CHECK(with_new_users >= 0.8 * incremental);
      CHECK(with_new_items >= 0.5 * incremental);
      // Popularity skew: the top 10% of items hold at least twice their uniform share (an item can be taken once
      // per user, so the reach of a community caps the skew at small scales).
      std::vector<int64_t> degree(s->item_raw.size());
      int64_t total = 0;
      for (const auto& seg : s->segments) {
        for (const auto* split : {&seg.train, &seg.valid, &seg.test}) {
          for (const auto& x : *split) ++degree[x.item], ++total;
        }
      }
      std::sort(degree.rbegin(), degree.rend());
      int64_t top = 0;
      for (size_t k = 0; k < degree.size() / 10; ++k) top += degree[k];
      CHECK(static_cast<double>(top) / static_cast<double>(total) > 0.2);
    }
  }
}

TEST_CASE("synthetic generator is reproducible from its seed and rejects bad options") {
  gpt4rec::testing::TempDir dir;
  ev::SynthOptions so;
  so.profile = "foursquare";
  so.scale = 0.005;
  so.out = dir / "a.txt";
  REQUIRE(ev::WriteSynthetic(so).ok());
  so.out = dir / "b.txt";
  REQUIRE(ev::WriteSynthetic(so).ok());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(slurp(dir / "a.txt") == slurp(dir / "b.txt"));
  so.scale = 0;
  CHECK_FALSE(ev::WriteSynthetic(so).ok());
  so.scale = 0.01;
  so.profile = "movielens";
  CHECK_FALSE(ev::WriteSynthetic(so).ok());
}
