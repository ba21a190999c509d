// Command-line flags for every ModelConfig field (CLI11), from the one field list in recommender_model.h: the
// server, the replay and the benches register the same --name flags with the same help and defaults. Header-only
// and torch-free; only binaries that already use CLI11 include it.
#pragma once

#include <set>
#include <string>

#include <CLI/CLI.hpp>

#include "model/recommender_model.h"

namespace gpt4rec::model {

namespace config_flags_internal {

struct FlagAdder {
  CLI::App* app;
  const std::set<std::string>* skip;
  template <class Enum, class Parse, class Name>
  void AddEnum(const char* name, Enum& v, const char* help, Parse parse, Name to_name) {
    app->add_option_function<std::string>(
           std::string("--") + name,
           [&v, name, parse](const std::string& text) {
             auto parsed = parse(text);
             if (!parsed.ok())
               throw CLI::ValidationError(std::string("--") + name, std::string(parsed.status().message()));
             v = *parsed;
           },
           help)
        ->default_str(to_name(v));
  }
  void operator()(const char* name, Strategy& v, const char* help) {
    if (!skip->count(name)) AddEnum(name, v, help, ParseStrategy, StrategyName);
  }
  void operator()(const char* name, StructurePrompt& v, const char* help) {
    if (!skip->count(name)) AddEnum(name, v, help, ParseStructurePrompt, StructurePromptName);
  }
  template <class T>
  void operator()(const char* name, T& v, const char* help) {
    if (!skip->count(name)) app->add_option(std::string("--") + name, v, help)->capture_default_str();
  }
};

}  // namespace config_flags_internal

// Registers --<field> for each field of *config except those named in `skip` (a binary that sets a field its
// own way, e.g. the replay's --strategies list). `config` must outlive parsing.
inline void AddModelConfigFlags(CLI::App& app, ModelConfig* config, const std::set<std::string>& skip = {}) {
  VisitConfigFields(*config, config_flags_internal::FlagAdder{&app, &skip});
}

}  // namespace gpt4rec::model
