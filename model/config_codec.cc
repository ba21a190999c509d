#include "model/config_codec.h"

#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gpt4rec::model {

absl::StatusOr<Strategy> ParseStrategy(const std::string& name) {
  if (name == "pop") return Strategy::kPop;
  if (name == "static") return Strategy::kStatic;
  if (name == "finetune") return Strategy::kFinetune;
  if (name == "retrain") return Strategy::kRetrain;
  if (name == "gpt4rec") return Strategy::kGpt4Rec;
  if (name == "lsp") return Strategy::kLsp;
  if (name == "replay_uniform") return Strategy::kReplayUniform;
  if (name == "replay_inverse_degree") return Strategy::kReplayInverseDegree;
  return absl::InvalidArgumentError(absl::StrCat(
      "strategy: unknown '", name,
      "' (pop, static, finetune, retrain, gpt4rec, lsp, replay_uniform, replay_inverse_degree)"));
}

std::string StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kPop: return "pop";
    case Strategy::kStatic: return "static";
    case Strategy::kFinetune: return "finetune";
    case Strategy::kRetrain: return "retrain";
    case Strategy::kGpt4Rec: return "gpt4rec";
    case Strategy::kLsp: return "lsp";
    case Strategy::kReplayUniform: return "replay_uniform";
    case Strategy::kReplayInverseDegree: return "replay_inverse_degree";
  }
  return "unknown";
}

bool ReadsOldData(Strategy s) {
  return s == Strategy::kRetrain || s == Strategy::kReplayUniform || s == Strategy::kReplayInverseDegree;
}

std::string TrainModeName(TrainMode m) {
  switch (m) {
    case TrainMode::kNone: return "none";
    case TrainMode::kTrain: return "train";
    case TrainMode::kPromptTuning: return "prompt_tuning";
    case TrainMode::kFinetune: return "finetune";
    case TrainMode::kRetrain: return "retrain";
    case TrainMode::kLsp: return "lsp";
    case TrainMode::kReplay: return "replay";
  }
  return "none";
}

std::string StructurePromptName(StructurePrompt s) {
  switch (s) {
    case StructurePrompt::kSoftmax: return "softmax";
    case StructurePrompt::kEdgeGate: return "edge_gate";
    case StructurePrompt::kOff: return "off";
  }
  return "off";
}

absl::StatusOr<StructurePrompt> ParseStructurePrompt(const std::string& name) {
  if (name == "softmax") return StructurePrompt::kSoftmax;
  if (name == "edge_gate") return StructurePrompt::kEdgeGate;
  if (name == "off") return StructurePrompt::kOff;
  return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not softmax, edge_gate or off"));
}

namespace {

absl::Status Bad(const char* field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("ModelConfig.", field, ": ", why));
}

}  // namespace

bool UsesPrompts(const ModelConfig& config) { return config.strategy == Strategy::kGpt4Rec; }

absl::Status ValidateConfig(const ModelConfig& c) {
  if (c.dim <= 0 || c.dim > 4096) return Bad("dim", "must be in 1..4096");
  if (c.views <= 0 || c.dim % c.views != 0) return Bad("views", "must be >= 1 and divide dim");
  if (c.node_prompts < 0 || c.node_prompts > 1024) return Bad("node_prompts", "must be in 0..1024");
  if (c.structure_prompts < 0 || c.structure_prompts > 1024) return Bad("structure_prompts", "must be in 0..1024");
  if (c.structure_prompt == StructurePrompt::kSoftmax && c.structure_prompts == 0 && UsesPrompts(c))
    return Bad("structure_prompts", "must be >= 1 with the softmax structure prompt (or set it off)");
  if (c.layers < 0 || c.layers > 16) return Bad("layers", "must be in 0..16");
  if (!(c.lr > 0)) return Bad("lr", "must be > 0");
  if (!(c.prompt_lr > 0)) return Bad("prompt_lr", "must be > 0");
  if (!(c.gate_lr >= 0)) return Bad("gate_lr", "must be >= 0 (0: prompt_lr)");
  if (!(c.temporal_lr >= 0)) return Bad("temporal_lr", "must be >= 0 (0: as the other gates)");
  if (!(c.temporal_carry >= 0 && c.temporal_carry <= 1)) return Bad("temporal_carry", "must be in [0, 1]");
  if (!(c.active_user_shrink >= 0 && c.active_user_shrink <= 1)) return Bad("active_user_shrink", "must be in [0, 1]");
  if (!(c.active_user_noise >= 0)) return Bad("active_user_noise", "must be >= 0");
  if (!(c.active_item_shrink >= 0 && c.active_item_shrink <= 1)) return Bad("active_item_shrink", "must be in [0, 1]");
  if (!(c.active_item_noise >= 0)) return Bad("active_item_noise", "must be >= 0");
  if (!(c.old_embedding_lr >= 0)) return Bad("old_embedding_lr", "must be >= 0");
  if (!(c.new_embedding_lr >= 0)) return Bad("new_embedding_lr", "must be >= 0");
  if (c.prompt_phase_epochs < 0) return Bad("prompt_phase_epochs", "must be >= 0 (0: no prompt phase)");
  if (!(c.prompt_phase_lr > 0)) return Bad("prompt_phase_lr", "must be > 0");
  if (!(c.l2 >= 0)) return Bad("l2", "must be >= 0");
  if (!(c.init_std >= 0)) return Bad("init_std", "must be >= 0 (0: xavier-normal)");
  if (c.negatives < 1 || c.negatives > 1024) return Bad("negatives", "must be in 1..1024");
  if (c.batch_size < 1) return Bad("batch_size", "must be >= 1");
  if (c.min_batches < 0) return Bad("min_batches", "must be >= 0");
  if (c.max_epochs < 0) return Bad("max_epochs", "must be >= 0");
  if (c.patience < 0) return Bad("patience", "must be >= 0");
  if (c.min_epochs < 0) return Bad("min_epochs", "must be >= 0");
  if (!(c.early_stop_se >= 0)) return Bad("early_stop_se", "must be >= 0");
  if (c.valid_window < 1) return Bad("valid_window", "must be >= 1");
  if (!(c.lsp_weight >= 0)) return Bad("lsp_weight", "must be >= 0");
  if (c.lsp_neighbours < 1 || c.lsp_neighbours > 1024) return Bad("lsp_neighbours", "must be in 1..1024");
  if (!(c.replay_ratio >= 0) || c.replay_ratio > 100) return Bad("replay_ratio", "must be in 0..100");
  if (c.reservoir_size < 0) return Bad("reservoir_size", "must be >= 0 (0: every old edge)");
  if (c.threads < 0) return Bad("threads", "must be >= 0 (0 = all cores)");
  return absl::OkStatus();
}

namespace {

// One field's text form in a checkpoint (bools as 0/1, enums by name, floats to 9 digits).
struct FieldWriter {
  std::ostringstream* o;
  void operator()(const char* name, bool v, const char*) const { *o << name << "=" << (v ? 1 : 0) << "\n"; }
  void operator()(const char* name, Strategy v, const char*) const { *o << name << "=" << StrategyName(v) << "\n"; }
  void operator()(const char* name, StructurePrompt v, const char*) const {
    *o << name << "=" << StructurePromptName(v) << "\n";
  }
  template <class T>
  void operator()(const char* name, T v, const char*) const { *o << name << "=" << v << "\n"; }
};

// Parses `value` into the field called `key`; `found` tells whether any field has that name.
struct FieldReader {
  const std::string& key;
  const std::string& value;
  bool found = false;
  absl::Status status;
  bool Match(const char* name) {
    if (found || key != name) return false;
    found = true;
    return true;
  }
  void Fail() { status = absl::InvalidArgumentError(absl::StrCat("bad value for ", key)); }
  void operator()(const char* name, bool& v, const char*) {
    int iv = 0;
    if (!Match(name)) return;
    if (!absl::SimpleAtoi(value, &iv)) return Fail();
    v = iv != 0;
  }
  void operator()(const char* name, float& v, const char*) {
    if (Match(name) && !absl::SimpleAtof(value, &v)) Fail();
  }
  void operator()(const char* name, Strategy& v, const char*) {
    if (!Match(name)) return;
    auto s = ParseStrategy(value);
    if (!s.ok()) status = s.status();
    else v = *s;
  }
  void operator()(const char* name, StructurePrompt& v, const char*) {
    if (!Match(name)) return;
    auto s = ParseStructurePrompt(value);
    if (!s.ok()) status = s.status();
    else v = *s;
  }
  template <class T>
  void operator()(const char* name, T& v, const char*) {
    if (Match(name) && !absl::SimpleAtoi(value, &v)) Fail();
  }
};

}  // namespace

std::string EncodeConfig(const ModelConfig& c) {
  std::ostringstream o;
  o.precision(9);
  VisitConfigFields(c, FieldWriter{&o});
  return o.str();
}

absl::StatusOr<ModelConfig> ParseConfigText(const std::string& text) {
  ModelConfig c;
  // Fields added after the first checkpoints: a checkpoint without them was written by a trainer that behaved as
  // these values do, so that is what it keeps (today's defaults differ).
  c.prompts_in_segment0 = true;
  c.l2_on_ego = false;
  c.init_std = 0.1f;
  c.view_projection = true;
  c.early_stop_se = 0;
  c.valid_window = 1;
  c.gate_lr = 0;
  c.recency_prompt = false;  // checkpoints from before the recency prompt had none
  c.recency_scale_free = false;
  c.leave_out_positives = false;  // before it, every step propagated over its own positives
  c.temporal_lr = 0;
  c.temporal_carry = 1;  // before it, the temporal prompts carried over from segment to segment whole
  c.row_phase_prompts = true;  // before the prompt phase, prompt tuning was one phase with every prompt in it
  c.prompt_phase_epochs = 0;
  c.min_batches = 0;  // before min_batches, every segment trained on full batch_size batches
  c.active_user_shrink = 1;  // before the shrink and perturb, every row continued as it was
  c.active_user_noise = 0;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    FieldReader reader{kv.first, kv.second};
    VisitConfigFields(c, reader);
    if (!reader.found)
      return absl::InvalidArgumentError(absl::StrCat("config line ", line_no, ": unknown key '", kv.first, "'"));
    if (!reader.status.ok())
      return absl::InvalidArgumentError(absl::StrCat("config line ", line_no, ": ", reader.status.message()));
  }
  if (auto st = ValidateConfig(c); !st.ok()) return st;
  return c;
}

}  // namespace gpt4rec::model
