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
  return absl::InvalidArgumentError(
      absl::StrCat("strategy: unknown '", name, "' (pop, static, finetune, retrain, gpt4rec)"));
}

std::string StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kPop: return "pop";
    case Strategy::kStatic: return "static";
    case Strategy::kFinetune: return "finetune";
    case Strategy::kRetrain: return "retrain";
    case Strategy::kGpt4Rec: return "gpt4rec";
  }
  return "unknown";
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
  if (!(c.old_embedding_lr >= 0)) return Bad("old_embedding_lr", "must be >= 0");
  if (!(c.new_embedding_lr >= 0)) return Bad("new_embedding_lr", "must be >= 0");
  if (!(c.l2 >= 0)) return Bad("l2", "must be >= 0");
  if (c.negatives < 1 || c.negatives > 1024) return Bad("negatives", "must be in 1..1024");
  if (c.batch_size < 1) return Bad("batch_size", "must be >= 1");
  if (c.max_epochs < 0) return Bad("max_epochs", "must be >= 0");
  if (c.patience < 0) return Bad("patience", "must be >= 0");
  if (c.min_epochs < 0) return Bad("min_epochs", "must be >= 0");
  if (c.threads < 0) return Bad("threads", "must be >= 0 (0 = all cores)");
  return absl::OkStatus();
}

std::string EncodeConfig(const ModelConfig& c) {
  std::ostringstream o;
  o.precision(9);
  o << "strategy=" << StrategyName(c.strategy) << "\n"
    << "dim=" << c.dim << "\n"
    << "views=" << c.views << "\n"
    << "node_prompts=" << c.node_prompts << "\n"
    << "structure_prompts=" << c.structure_prompts << "\n"
    << "structure_prompt=" << StructurePromptName(c.structure_prompt) << "\n"
    << "view_prompts=" << (c.view_prompts ? 1 : 0) << "\n"
    << "recency_prompt=" << (c.recency_prompt ? 1 : 0) << "\n"
    << "layer_prompt=" << (c.layer_prompt ? 1 : 0) << "\n"
    << "layers=" << c.layers << "\n"
    << "lr=" << c.lr << "\n"
    << "prompt_lr=" << c.prompt_lr << "\n"
    << "old_embedding_lr=" << c.old_embedding_lr << "\n"
    << "new_embedding_lr=" << c.new_embedding_lr << "\n"
    << "two_hop_distinct=" << (c.two_hop_distinct ? 1 : 0) << "\n"
    << "l2=" << c.l2 << "\n"
    << "negatives=" << c.negatives << "\n"
    << "batch_size=" << c.batch_size << "\n"
    << "max_epochs=" << c.max_epochs << "\n"
    << "patience=" << c.patience << "\n"
    << "min_epochs=" << c.min_epochs << "\n"
    << "threads=" << c.threads << "\n"
    << "seed=" << c.seed << "\n";
  return o.str();
}

absl::StatusOr<ModelConfig> ParseConfigText(const std::string& text) {
  ModelConfig c;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    const std::string& k = kv.first;
    const std::string& v = kv.second;
    bool ok = true;
    int iv = 0;
    if (k == "strategy") {
      auto s = ParseStrategy(v);
      if (!s.ok()) return s.status();
      c.strategy = *s;
    } else if (k == "structure_prompt") {
      auto s = ParseStructurePrompt(v);
      if (!s.ok()) return s.status();
      c.structure_prompt = *s;
    } else if (k == "dim") ok = absl::SimpleAtoi(v, &c.dim);
    else if (k == "views") ok = absl::SimpleAtoi(v, &c.views);
    else if (k == "node_prompts") ok = absl::SimpleAtoi(v, &c.node_prompts);
    else if (k == "structure_prompts") ok = absl::SimpleAtoi(v, &c.structure_prompts);
    else if (k == "view_prompts") { ok = absl::SimpleAtoi(v, &iv); c.view_prompts = iv != 0; }
    else if (k == "recency_prompt") { ok = absl::SimpleAtoi(v, &iv); c.recency_prompt = iv != 0; }
    else if (k == "layer_prompt") { ok = absl::SimpleAtoi(v, &iv); c.layer_prompt = iv != 0; }
    else if (k == "new_embedding_lr") ok = absl::SimpleAtof(v, &c.new_embedding_lr);
    else if (k == "two_hop_distinct") { ok = absl::SimpleAtoi(v, &iv); c.two_hop_distinct = iv != 0; }
    else if (k == "layers") ok = absl::SimpleAtoi(v, &c.layers);
    else if (k == "lr") ok = absl::SimpleAtof(v, &c.lr);
    else if (k == "prompt_lr") ok = absl::SimpleAtof(v, &c.prompt_lr);
    else if (k == "old_embedding_lr") ok = absl::SimpleAtof(v, &c.old_embedding_lr);
    else if (k == "l2") ok = absl::SimpleAtof(v, &c.l2);
    else if (k == "negatives") ok = absl::SimpleAtoi(v, &c.negatives);
    else if (k == "batch_size") ok = absl::SimpleAtoi(v, &c.batch_size);
    else if (k == "max_epochs") ok = absl::SimpleAtoi(v, &c.max_epochs);
    else if (k == "patience") ok = absl::SimpleAtoi(v, &c.patience);
    else if (k == "min_epochs") ok = absl::SimpleAtoi(v, &c.min_epochs);
    else if (k == "threads") ok = absl::SimpleAtoi(v, &c.threads);
    else if (k == "seed") ok = absl::SimpleAtoi(v, &c.seed);
    else return absl::InvalidArgumentError(absl::StrCat("config line ", line_no, ": unknown key '", k, "'"));
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("config line ", line_no, ": bad value for ", k));
  }
  if (auto st = ValidateConfig(c); !st.ok()) return st;
  return c;
}

}  // namespace gpt4rec::model
