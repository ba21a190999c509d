// model/ — GPT4Rec in LibTorch, its baselines, trainer and checkpoints. This header is the module's whole
// contract: no torch types cross it (the implementation is behind a pimpl), so including it costs nothing.
//
// The model takes CSR arrays and edge lists in dense ids; it knows nothing of storage, gRPC or datasets.
// Method: ../shared/design/GPT4REC.md §2–4. Parts marked [reconstructed] there are switchable in ModelConfig.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::model {

// How the model reacts to each new segment (the paper's method and its baselines, one trainer).
enum class Strategy {
  kPop,       // item popularity in the accumulated graph; no training
  kStatic,    // train on segment 0, never update
  kFinetune,  // same backbone without prompts; every parameter keeps training on each new segment
  kRetrain,   // from scratch on the whole accumulated graph at every segment
  kGpt4Rec,   // segment 0 from scratch, then prompt tuning: backbone frozen, old embeddings frozen or slow
  // The paper's continual-learning baselines: Finetune's backbone, rates and early stopping, plus one extra.
  kLsp,                  // + local structure preservation distillation against the previous segment's frozen rows
  kReplayUniform,        // + replayed old edges, drawn uniformly from the reservoir
  kReplayInverseDegree,  // + replayed old edges, drawn with probability 1 / (user's degree in the reservoir)
};
absl::StatusOr<Strategy> ParseStrategy(const std::string& name);  // "pop", "static", "finetune", ...
std::string StrategyName(Strategy s);
// Whether the strategy's update reads edges of earlier segments as training examples (Retrain and the replay
// strategies; the accumulated graph every strategy propagates over does not count).
bool ReadsOldData(Strategy s);

// Structure prompt form: the design page's cheap softmax-over-M form, or a scalar gate on Â's entries.
enum class StructurePrompt { kSoftmax, kEdgeGate, kOff };
absl::StatusOr<StructurePrompt> ParseStructurePrompt(const std::string& name);  // "softmax", "edge_gate", "off"
std::string StructurePromptName(StructurePrompt s);

struct ModelConfig {
  Strategy strategy = Strategy::kGpt4Rec;
  int dim = 64;                // d
  int views = 4;               // K; each view has d / K dims
  int node_prompts = 8;        // L
  int structure_prompts = 4;   // M
  StructurePrompt structure_prompt = StructurePrompt::kSoftmax;  // [reconstructed]
  bool view_prompts = true;    // [reconstructed]
  // Temporal prompts — our addition to the paper's three (README, "Model quality"): small tensors that start as
  // the identity and train during prompt tuning only, so a frozen model can follow drift.
  // recency_prompt: a per-view weight 2σ(τ[k][bucket(age)]) ∈ (0, 2) on every edge's message, by the edge's age
  // in segments (buckets 0,1,2,3,4-5,6-8,9-15,16+): lean on the new segment's edges, fade old ones. Needs
  // Graph.edge_age; inert without it. On by default since 2026-12-02, scale-free and at its own rate
  // (temporal_lr 1e-2): Recall@20 / NDCG@20, avg t >= 1, against the previous defaults (recency off) — ml-100k
  // 0.2879 / 0.2039 against 0.2736 / 0.1938, Koubei t = 1..4 0.1092 / 0.0553 against 0.1046 / 0.0529 (paired
  // differences +0.014 / +0.010 and +0.0046 / +0.0024, 2.3-3.8 standard errors).
  bool recency_prompt = true;
  // true: the recency weights are normalised per node and view (a node's messages keep Â's total weight), so
  // they can only shift a neighbourhood towards new or old edges, not scale a representation. The bounded but
  // unnormalised form, trained fast, let BPR lower its loss by scaling (ml-100k 0.2225 against 0.2677, README).
  bool recency_scale_free = true;
  // layer_prompt: per-view weights over the LightGCN layers (softmax x (layers+1), uniform = LightGCN's mean):
  // how far to trust a node's frozen ID row against what propagation brings from its (new) neighbours.
  bool layer_prompt = false;
  // false: segment 0 pre-trains the bare backbone and every prompt starts as the exact identity at t = 1 (P and S
  // at zero); true: the design page's form, segment 0 trains the prompts from scratch along with the backbone.
  bool prompts_in_segment0 = false;
  int layers = 2;              // LightGCN layers
  // Rates and batch size measured on ml-100k's replay: at 1e-3 / 2048 no strategy trained within 25 epochs
  // (BPR loss stayed near ln 2); 1e-2 / 512 trains every strategy (README, "Replay evaluation").
  float lr = 1e-2f;            // segment 0 / retrain / finetune
  // Prompt tuning's rates, measured on the real streams (README, "Model quality"): prompts at 1e-2 pulled every
  // representation towards the shared prompt vectors within the first epoch; at 1e-3 the validation curve still
  // peaked by epoch 3-6 and fell while Finetune's kept rising (ml-100k -0.023, Koubei t=1..3 -0.011 Recall@20
  // against Finetune); at 1e-4 GPT4Rec tracks Finetune on both (within +-0.002) while the prompts still move. The
  // prompt vectors are shared by every node, so Adam's per-step move of ~lr is large next to ID rows whose entries
  // are ~0.01-0.05. Rows at the full rate: on Koubei old rows at 2e-3 lost 0.004-0.02 Recall@20 to rows at 1e-2.
  float prompt_lr = 1e-4f;     // the shared prompt vectors (node P, structure S) during prompt tuning
  // > 0: the prompts' gates — the scoring layers a_k, g_k, the view prompt v_k and the temporal prompts τ, w —
  // train at this rate during prompt tuning; 0: at prompt_lr. Gates are softmax/sigmoid logits, not vectors
  // added to every row, so a rate that would blow the shared vectors up only reshapes the weights.
  float gate_lr = 0;
  // > 0: the temporal prompts (recency τ, layer weights w) alone train at this rate in prompt tuning; 0: as the
  // other gates (gate_lr, else prompt_lr).
  // temporal_lr 3e-3: ml-100k 0.2738 / 0.1971; 1e-2: 0.2879 / 0.2039 (README, "Model quality").
  float temporal_lr = 1e-2f;
  // Each incremental segment's prompt tuning starts the temporal prompts from their last logits times this: 1
  // carries them over whole, 0 restarts them at the identity. Every BPR positive is an age-0 edge of the graph
  // it is scored on, so each segment pushes the age-0 weight up whether or not age tells anything; carried over
  // whole, the weights compounded over segments to the bound (taobao2015: 2.0 on age 0, 0.002 on age 1). Measured
  // (README, "Temporal carry"), GPT4Rec's avg t >= 1 Recall@20, carry 1 -> 0: taobao2015 0.2470 -> 0.2817,
  // netflix 0.2513 -> 0.2720, foursquare 0.4039 -> 0.4259 (Finetune 0.2800, 0.2730, 0.4243), taobao2014 0.1490 ->
  // 0.1491; ml-100k (3 seeds) 0.2903 -> 0.2858, Koubei (3 seeds) 0.1076 -> 0.1070; 0.5 lay between on most.
  float temporal_carry = 0.0f;
  // > 0: old embeddings train at this rate during prompt tuning (the design page's option); 0 freezes them
  // (the paper's strict form).
  float old_embedding_lr = 1e-2f;
  float new_embedding_lr = 1e-2f;  // > 0: new rows' rate during prompt tuning (0: prompt_lr)
  // Prompt tuning in two phases (default since 2026-12-02). The row phase: the rows and the temporal prompts
  // train as above; the paper's three prompts (node, structure, view) join it at prompt_lr when
  // row_phase_prompts, else they are skipped (the identity, at no cost). Then the prompt phase, when
  // prompt_phase_epochs > 0: up to that many epochs that train only those three prompts, at prompt_phase_lr,
  // every row and the temporal prompts frozen — the paper's prompt tuning, on the adapted rows; the row phase's
  // model is its early stopping's first candidate, so it is kept unless a prompt epoch beats it on validation.
  // Measured against the one-phase form (prompts at 1e-4 alongside the rows), avg t >= 1, R@20 / N@20: Koubei
  // t = 1..4 0.1120 / 0.0566 against 0.1092 / 0.0553; ml-100k 0.2834 / 0.2026 against 0.2879 / 0.2039; training
  // CPU per incremental segment 1.88x Finetune's on Koubei (was 2.31x), 1.96x on ml-100k (was 2.8x). The prompt
  // phase at 1e-2: ml-100k 0.2781; a prompt phase after the one-phase form: Koubei 0.1104, ml-100k 0.2860.
  bool row_phase_prompts = false;
  int prompt_phase_epochs = 5;
  float prompt_phase_lr = 1e-3f;
  // New nodes start from the mean of their old 2-hop neighbours. false (default): each neighbour weighted by the
  // number of 2-hop paths to it (shared neighbours), O(edges × dim) per segment; true: plain mean over the
  // distinct neighbours, whose cost grows with hub degrees (slow on power-law graphs).
  bool two_hop_distinct = false;
  // The backbone's training, measured against RecBole's LightGCN on ml-100k (README, "Model quality"): the
  // learned d×d view projection made validation Recall@20 peak at epoch 3-8 and fall (0.310 vs 0.339 without it);
  // L2 on the layer-0 rows at 1e-3 adds 0.008 over 1e-4 (1e-2 over-regularises: 0.322); xavier init +0.004.
  float l2 = 1e-3f;            // weight of the L2 term (see l2_on_ego)
  // true: L2 on the batch's layer-0 ID rows (LightGCN's form, ‖e_u‖² + ‖e_i‖² + ‖e_j‖² over 2B); false: on the
  // propagated representations z.
  bool l2_on_ego = true;
  // Std of the N(0, σ) initial ID rows; 0: xavier-normal per table, sqrt(2 / (rows + d)).
  float init_std = 0;
  // false: the view projections W_k, c_k stay the identity blocks (each view is a slice of E) and never train.
  bool view_projection = false;
  // true: every training step from segment 1 on (every strategy alike; segment 0 has no old edges to tell
  // apart and trains as before) propagates over the graph without the step's own positive edges, each node's
  // remaining edges taking its whole weight. A positive is an edge of the graph it is scored on, so otherwise BPR
  // can be lowered by propagating the edge being predicted, which a test edge (never in the graph) cannot offer;
  // the recency prompt learns exactly that (on a stream where age tells nothing its age-0 weight grows to 1.36
  // against 1.04 with the leave-out, model_update_test), drifting over segments to 2 on age 0 and ~0 on every
  // older edge. Off by default: measured for every strategy (README, "Leave-out of the step's positives") it
  // moved Finetune by +0.011 / -0.006 Recall@20 on ml-100k (seeds 42 / 1) and +0.007 / +0.005 on Koubei, GPT4Rec
  // by -0.008 / -0.004 and +0.003 / -0.001, and left Retrain ahead on Koubei — no robust gain.
  bool leave_out_positives = false;
  // Shrink and perturb at each incremental segment's start, for every continuing strategy alike: the old rows of
  // the users that have edges in the new segment's train split become active_user_shrink x row +
  // N(0, (active_user_noise x xavier std)^2), the items' likewise with active_item_*; every other row is untouched.
  // A model that has fit earlier segments is a worse start than fresh rows (README, "Why Retrain stays ahead on
  // Koubei"); a user's row is where that hurts, an item's row carries what many users said of it. Measured (README,
  // "Shrink and perturb the active users"), GPT4Rec avg t >= 1 Recall@20, seeds 42, 1, 2, off -> users 0.5 / 1:
  // ml-100k 0.2858 -> 0.2946, Koubei 0.1070 -> 0.1178 (Retrain 0.1137); the ml-100k user folds 0.2453 -> 0.2388.
  // Refreshing the items too cost ml-100k 3 % (0.2776). Static, Retrain and frozen old rows are never refreshed.
  float active_user_shrink = 0.5f;  // 1: off
  float active_user_noise = 1;
  float active_item_shrink = 1;
  float active_item_noise = 0;
  int negatives = 1;           // sampled per positive (BPR)
  int batch_size = 512;
  // > 0: a segment whose training edges fill fewer than this many batches of batch_size trains on smaller
  // batches, ceil(edges / min_batches), so that each epoch still takes min_batches optimiser steps. A sparse
  // stream's segment of a few hundred edges was one batch: 25 epochs were 25 steps and the BPR loss stayed near
  // ln 2, below Pop in segment 0. Measured (README, "Small segments"), avg t >= 1 Recall@20 / NDCG@20 of GPT4Rec:
  // Koubei user sixths (6 disjoint folds) 0.2017 / 0.0985 -> 0.2203 / 0.1086, ml-100k user quarters (4 folds)
  // 0.2427 / 0.1705 -> 0.2535 / 0.1772; full ml-100k (3 seeds) and Koubei unchanged within noise. 32 and 64
  // helped Koubei's folds a little more and cost ml-100k's folds, at 2-4x the training time.
  int min_batches = 16;
  int max_epochs = 25;
  int patience = 2;
  int min_epochs = 8;
  // > 0: early stopping also needs the last epoch's validation Recall@20 below the best by more than this many
  // standard errors (of the best epoch's mean over validation users); 0: patience alone decides.
  float early_stop_se = 0;
  // Early stopping and the kept epoch read the mean validation Recall@20 of the last `valid_window` epochs
  // (fewer at the start), not one epoch's: on a segment's small validation split one epoch's figure swings by
  // more than training moves it, and a lucky early epoch then stopped training and was kept.
  int valid_window = 1;
  // Continual-learning baselines (README, "Continual-learning baselines"). lsp: the distillation term's weight
  // and the neighbours sampled per node (DEGC's LSP_s samples 10). The weight: best Recall@20 of the grid 0.01,
  // 0.1, 1, 10, 100 on ml-100k t = 1..4 (0.2602, 0.2618, 0.2517, 0.2319, 0.2423; Finetune 0.2670). 1 is DEGC's
  // setting in our units (its 1e4 against a BPR summed over 1,000 positives x 10 negatives; ours is a mean).
  float lsp_weight = 0.1f;
  int lsp_neighbours = 10;
  // Replay: each incremental segment trains on its own edges plus the distinct edges of round(replay_ratio x old
  // edges) draws with replacement from the reservoir (DEGC: replay_ratio 0.2). reservoir_size 0: every old edge
  // (DEGC's README commands, `-rs full`); N > 0: a uniform sample of N old edges, kept like a reservoir.
  float replay_ratio = 0.2f;
  int64_t reservoir_size = 0;
  int threads = 0;             // torch::set_num_threads; 0 = all cores
  uint64_t seed = 42;
};

// The one list of ModelConfig's fields. Every consumer walks it — the checkpoint codec, the server's and the
// replay's flags (model/config_flags.h), the JSON reports (model/config_json.h), the benches — so a new
// hyper-parameter is its member above plus one line here. `v(name, member, help)` is called once per field, in
// this order; `member` is an int&, float&, bool&, int64_t&, uint64_t&, Strategy& or StructurePrompt& (const for a const
// config). The name is the flag (--name), the JSON key and the checkpoint key; the member's initialiser is the
// default.
template <class Config, class Visitor>
void VisitConfigFields(Config& c, Visitor&& v) {
  v("strategy", c.strategy,
    "model update strategy: gpt4rec | finetune | retrain | static | pop | lsp | replay_uniform | "
    "replay_inverse_degree");
  v("dim", c.dim, "embedding dimension d");
  v("views", c.views, "disentangled views K (d / K dims each)");
  v("node_prompts", c.node_prompts, "node-level prompts L per view");
  v("structure_prompts", c.structure_prompts, "structure-level prompts M per view");
  v("structure_prompt", c.structure_prompt, "structure prompt form: softmax | edge_gate | off");
  v("view_prompts", c.view_prompts, "view-level prompts on/off (true|false)");
  v("recency_prompt", c.recency_prompt, "temporal prompt: learned edge weights by age in segments (true|false)");
  v("recency_scale_free", c.recency_scale_free,
    "recency prompt weights normalised per node (they redistribute, never scale, its messages)");
  v("layer_prompt", c.layer_prompt, "temporal prompt: learned weights over the LightGCN layers (true|false)");
  v("prompts_in_segment0", c.prompts_in_segment0,
    "segment 0 trains the prompts with the backbone (false: backbone alone, prompts join at t = 1 as the identity)");
  v("layers", c.layers, "LightGCN layers");
  v("lr", c.lr, "learning rate (segment 0, retrain, finetune)");
  v("prompt_lr", c.prompt_lr,
    "learning rate of the prompt vectors (node P, structure S; with gate_lr 0 also their gates) during prompt tuning");
  v("gate_lr", c.gate_lr, "> 0: the prompts' scoring layers, view and temporal prompts' rate in prompt tuning (0: prompt_lr)");
  v("temporal_lr", c.temporal_lr, "> 0: the temporal prompts' own rate in prompt tuning (0: as the other gates)");
  v("temporal_carry", c.temporal_carry,
    "each segment's prompt tuning starts the temporal prompts from their last logits times this (1: carried over "
    "whole, 0: from the identity)");
  v("old_embedding_lr", c.old_embedding_lr, "> 0: old embeddings train at this rate in prompt tuning (0: frozen)");
  v("new_embedding_lr", c.new_embedding_lr, "> 0: new rows' rate in prompt tuning (0: prompt_lr)");
  v("row_phase_prompts", c.row_phase_prompts,
    "prompt tuning's row phase trains the node/structure/view prompts too (false: they wait for the prompt phase)");
  v("prompt_phase_epochs", c.prompt_phase_epochs,
    "> 0: after the row phase, up to N epochs training only the node/structure/view prompts (rows frozen)");
  v("prompt_phase_lr", c.prompt_phase_lr, "learning rate of the prompt phase");
  v("two_hop_distinct", c.two_hop_distinct,
    "new nodes start from the plain mean of distinct 2-hop neighbours (false: path-weighted mean)");
  v("l2", c.l2, "weight of the L2 term");
  v("l2_on_ego", c.l2_on_ego, "L2 on the layer-0 ID rows of the batch (false: on the propagated representations)");
  v("init_std", c.init_std, "std of the initial ID rows (0: xavier-normal per table)");
  v("view_projection", c.view_projection, "learned view projections W_k, c_k (false: fixed identity blocks)");
  v("leave_out_positives", c.leave_out_positives,
    "training steps (segment >= 1) propagate without their own positive edges");
  v("active_user_shrink", c.active_user_shrink,
    "at each incremental segment's start, the old rows of users active in it are scaled by this (1: off)");
  v("active_user_noise", c.active_user_noise,
    "Gaussian noise of this many xavier standard deviations added to those rows at the same time (0: none)");
  v("active_item_shrink", c.active_item_shrink, "the same for the old rows of items active in the segment (1: off)");
  v("active_item_noise", c.active_item_noise, "the same noise for those item rows (0: none)");
  v("negatives", c.negatives, "sampled negatives per positive (BPR)");
  v("batch_size", c.batch_size, "training batch size");
  v("min_batches", c.min_batches, "> 0: smaller batches on a small segment so that an epoch has at least this many steps");
  v("max_epochs", c.max_epochs, "max epochs per segment");
  v("patience", c.patience, "early-stopping patience (epochs)");
  v("min_epochs", c.min_epochs, "epochs before early stopping may stop");
  v("early_stop_se", c.early_stop_se,
    "> 0: stopping also needs validation Recall@20 below the best by this many standard errors");
  v("valid_window", c.valid_window,
    "early stopping and the kept epoch use the mean validation Recall@20 of the last N epochs");
  v("lsp_weight", c.lsp_weight, "lsp: weight of the local structure distillation term");
  v("lsp_neighbours", c.lsp_neighbours, "lsp: neighbours sampled per node for the distillation term");
  v("replay_ratio", c.replay_ratio, "replay_*: draws from the reservoir per segment, as a share of the old edges");
  v("reservoir_size", c.reservoir_size, "replay_*: reservoir capacity in edges (0: every old edge)");
  v("threads", c.threads, "torch threads for training (0: all cores)");
  v("seed", c.seed, "training seed");
}

// User-major CSR in dense ids: items of user u are indices[indptr[u] .. indptr[u+1]).
struct Graph {
  int32_t num_users = 0;
  int32_t num_items = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  // Optional, parallel to indices: how many segments ago the edge was last seen (0 = the segment being trained).
  // Empty: every edge counts as new. Only the recency prompt reads it.
  std::vector<int32_t> edge_age;
};

struct Interaction {
  int32_t user = 0;
  int32_t item = 0;
};

// One segment's input.
struct SegmentInput {
  // The accumulated TRAINING graph of segments 0..t (message passing uses it). Its sizes define the id space;
  // ids above those the model already knows are new nodes.
  const Graph* graph = nullptr;
  std::vector<Interaction> train;  // this segment's training edges: BPR positives
  std::vector<Interaction> valid;  // this segment's validation edges: early stopping on Recall@20
  // Optional: once it reads true, Update stops before its next training batch and returns CANCELLED (a server
  // shutting down mid-training). The model's parameters are then partly updated: discard the object and Load
  // the last checkpoint.
  const std::atomic<bool>* cancel = nullptr;
};

struct EpochLog {
  int epoch = 0;
  double loss = 0;
  double valid_recall20 = 0;
  double valid_standard_error = 0;  // of valid_recall20's mean over validation users
  double seconds = 0;        // whole epoch: training + validation
  double train_seconds = 0;  // the training steps only (sampling, forward, backward, optimiser)
};

// What an Update did with its segment.
enum class TrainMode {
  kNone,          // no training (pop; static after segment 0)
  kTrain,         // segment 0 from scratch
  kPromptTuning,  // GPT4Rec's update: prompts and rows, the backbone frozen
  kFinetune,      // every parameter trained on the new segment
  kRetrain,       // from scratch on the accumulated graph
  kLsp,           // finetune plus the local structure distillation term
  kReplay,        // finetune on the segment's edges plus replayed old ones
};
std::string TrainModeName(TrainMode m);  // "none", "train", "prompt_tuning", "finetune", "retrain", "lsp", "replay"

struct TrainReport {
  int segment = 0;
  TrainMode mode = TrainMode::kNone;
  int epochs = 0;
  int best_epoch = 0;
  double final_loss = 0;
  double best_valid_recall20 = 0;  // the kept epoch's own validation Recall@20 (not the window's mean)
  double seconds = 0;
  bool reads_old_data = false;  // trained on edges of earlier segments (retrain, replay)
  int64_t replayed_edges = 0;   // replay: distinct old edges added to the segment's positives
  std::vector<EpochLog> log;
};

// Called after every epoch (progress display); may be empty.
using EpochCallback = std::function<void(const EpochLog&)>;

// Final representations for serving: score(u, i) = users[u] · items[i].
struct Embeddings {
  int32_t num_users = 0;
  int32_t num_items = 0;
  int32_t dim = 0;
  std::vector<float> users;  // row-major num_users × dim
  std::vector<float> items;  // row-major num_items × dim
  // The view-level prompt's weights per user: row-major num_users × views, row u = γ_u, γ_uk =
  // softmax_k(v_k · h_u^(k)) with h_u^(k) the user's propagated view-k representation before the view prompt
  // (so users[u]'s view-k block is views·γ_uk·h_u^(k)); each row sums to 1. Uniform 1/views where the model has no
  // view prompt (view_prompts = false, the bare-backbone strategies, pop) or its prompts are still the identity
  // (v = 0), and for a checkpoint written before the table existed. A user erased by EraseUser: zeros.
  int32_t views = 0;
  std::vector<float> user_view_weights;
};

class RecommenderModel {
 public:
  static absl::StatusOr<std::unique_ptr<RecommenderModel>> Create(const ModelConfig& config);
  // Restores a checkpoint written by Save (config, tensors, segment count). Scores are identical.
  static absl::StatusOr<std::unique_ptr<RecommenderModel>> Load(const std::string& path);
  virtual ~RecommenderModel() = default;

  // Consumes the next segment: the first call trains segment 0 from scratch; later calls update according to
  // the strategy. New nodes are initialised with the mean of their old 2-hop neighbours' embeddings.
  virtual absl::StatusOr<TrainReport> Update(const SegmentInput& input, const EpochCallback& on_epoch) = 0;

  // Final representations after the last Update (propagated over the last graph).
  virtual absl::StatusOr<Embeddings> ExportEmbeddings() const = 0;

  // Scores of the given users against all items: out is users.size() × num_items, row-major.
  // Users unknown to the model get the mean old-node representation.
  virtual absl::Status Score(const std::vector<int32_t>& users, std::vector<float>* out) const = 0;

  // Erasure: zeroes the user's ID embedding row and their rows of the published representations and view weights
  // (what Score and ExportEmbeddings read), so a Save after it holds zeros there. Other rows keep their values until the next
  // Update. A user the model does not know: nothing to do.
  virtual absl::Status EraseUser(int32_t dense_user) = 0;

  // Atomic write (temp file + rename) of a versioned checkpoint.
  virtual absl::Status Save(const std::string& path) const = 0;

  virtual const ModelConfig& config() const = 0;
  virtual int segments_seen() const = 0;  // Update calls so far
};

}  // namespace gpt4rec::model
