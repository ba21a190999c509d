// Private (torch-free): validation and a stable text form of ModelConfig, used by Create and by checkpoints.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/recommender_model.h"

namespace gpt4rec::model {

// INVALID_ARGUMENT naming the first bad field.
absl::Status ValidateConfig(const ModelConfig& config);

// "key=value\n" lines; ParseConfigText accepts exactly what EncodeConfig writes (unknown keys are an error so a
// checkpoint from a newer writer is refused rather than misread).
std::string EncodeConfig(const ModelConfig& config);
absl::StatusOr<ModelConfig> ParseConfigText(const std::string& text);

// Whether the strategy's network carries node/structure/view prompts (finetune/static/retrain use the bare
// backbone, as the design page's baselines do).
bool UsesPrompts(const ModelConfig& config);

}  // namespace gpt4rec::model
