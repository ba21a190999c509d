// gpt4rec-synth: writes a synthetic interaction stream in one of the four datasets' raw formats.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "eval/preprocess.h"
#include "eval/synth.h"

int main(int argc, char** argv) {
  gpt4rec::eval::SynthOptions options;
  CLI::App app{
      "Writes a synthetic stream in a dataset's raw format with that dataset's shape (users, items, segments, new "
      "nodes per segment, popularity skew, drifting communities) at the chosen scale. Profiles: eval/PROFILES.md."};
  app.add_option("--profile", options.profile, "taobao2014 | taobao2015 | netflix | foursquare")
      ->required()
      ->check(CLI::IsMember({"taobao2014", "taobao2015", "netflix", "foursquare"}));
  app.add_option("--scale", options.scale, "fraction of the dataset's users (and items, floored at 150), in (0, 1]")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "random seed")->capture_default_str();
  app.add_option("--out", options.out, "output file (netflix: one combined_data-style file)")->required();
  bool check = false;
  app.add_flag("--check", check,
               "read the written file back through its loader and the protocol's preprocessing (dataset defaults) "
               "and print the stream's shape per segment on stderr");
  CLI11_PARSE(app, argc, argv);
  auto stats = gpt4rec::eval::WriteSynthetic(options);
  if (!stats.ok()) {
    std::cerr << "gpt4rec-synth: " << stats.status().message() << "\n";
    return 1;
  }
  if (check) {
    namespace ev = gpt4rec::eval;
    auto profile = ev::GetSynthProfile(options.profile);
    ev::LoadOptions load;
    load.format = profile->format;
    load.inputs = {options.out};
    auto raw = ev::LoadStream(load);
    if (!raw.ok()) {
      std::cerr << "gpt4rec-synth: check: " << raw.status().message() << "\n";
      return 1;
    }
    const ev::PreprocessOptions prep = ev::PreprocessDefaultsFor(profile->format);
    auto stream = ev::Preprocess(*raw, prep);
    if (!stream.ok()) {
      std::cerr << "gpt4rec-synth: check: " << stream.status().message() << "\n";
      return 1;
    }
    std::fprintf(stderr, "check: %zu events read, %lld after de-dup, %lld after %d/%d-core: %zu users, %zu items, %zu segments\n",
                 raw->events.size(), static_cast<long long>(stream->events_after_dedup),
                 static_cast<long long>(stream->events_after_kcore), prep.user_core, prep.item_core,
                 stream->user_raw.size(), stream->item_raw.size(), stream->segments.size());
    for (const ev::Segment& s : stream->segments) {
      std::fprintf(stderr, "  %-12s interactions %6zu  users %6d (+%d)  items %6d (+%d)\n", s.label.c_str(),
                   s.train.size() + s.valid.size() + s.test.size(), s.num_users, s.new_users, s.num_items, s.new_items);
    }
  }
  // nlohmann escapes the path (quotes, backslashes), which printf did not.
  const nlohmann::ordered_json summary = {{"profile", options.profile}, {"scale", options.scale},
                                          {"users", stats->users},       {"items", stats->items},
                                          {"segments", stats->segments}, {"lines", stats->lines},
                                          {"out", options.out}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}
