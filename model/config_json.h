// ModelConfig as a JSON object (nlohmann-json), from the one field list in recommender_model.h: what the replay's
// results.json and the benches' JSON lines report. Header-only and torch-free.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "model/recommender_model.h"

namespace gpt4rec::model {

// Floats as their shortest decimal (0.01, not 0.009999999776).
inline double ShortestDecimal(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
  return std::strtod(buf, nullptr);
}

namespace config_json_internal {
struct FieldWriter {
  nlohmann::ordered_json* j;
  void operator()(const char* name, Strategy v, const char*) const { (*j)[name] = StrategyName(v); }
  void operator()(const char* name, StructurePrompt v, const char*) const { (*j)[name] = StructurePromptName(v); }
  void operator()(const char* name, float v, const char*) const { (*j)[name] = ShortestDecimal(v); }
  template <class T>
  void operator()(const char* name, T v, const char*) const { (*j)[name] = v; }
};
}  // namespace config_json_internal

inline nlohmann::ordered_json ModelConfigJson(const ModelConfig& config) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  VisitConfigFields(config, config_json_internal::FieldWriter{&j});
  return j;
}

}  // namespace gpt4rec::model
