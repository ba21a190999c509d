// Explanations of a Recommend reply (RecommendRequest.explain; the definitions are in the proto's Explanation):
// computed from the serving representations the ranking used, after it, on the scoring thread. Nothing here
// touches storage or the model, so an explained reply costs k x (seen items + 1) dot products more than a plain
// one and ranks exactly the same items.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/serving_tables.h"

namespace gpt4rec::server {

// The seen items whose contributions are reported: at most this many, the most recent first (the bound:
// a user with 10k edges must not make an explained reply cost 10k dot products per item).
inline constexpr size_t kExplainSeenItems = 200;
inline constexpr size_t kExplainTopContributions = 3;

struct RecContribution {
  std::string item_id;
  float share = 0;
};

struct RecItemExplanation {
  std::vector<RecContribution> because_of;  // largest share first, at most kExplainTopContributions
  std::vector<float> view_scores;           // z_u^(k) . z_i^(k) per view
};

// Explanation.ViewWeightsSource.
enum class ViewWeightsSource { kNone, kGamma, kUniform };

struct RecExplanation {
  std::vector<RecItemExplanation> items;  // parallel to RecResult::items
  // The view prompt's γ_u from the serving tables (kGamma), 1/K where they hold none for the user (kUniform),
  // empty for popular replies (kNone).
  std::vector<float> view_weights;
  ViewWeightsSource view_weights_source = ViewWeightsSource::kNone;
  std::string built_from;
  std::vector<std::string> fold_in_item_ids;  // FOLD_IN: most recent first, at most kExplainSeenItems
  uint32_t fold_in_item_count = 0;
  uint64_t popular_first_sequence = 0;
  uint64_t popular_last_sequence = 0;
};

// What the scoring thread needs to explain a ranked list: the query it was scored with, the rows (in the
// scoring table) of the user's seen items, and the reply-level fields already known before ranking.
struct ExplainContext {
  std::vector<float> query;
  int32_t views = 1;  // view blocks of the query (the tables' views when they carry view weights)
  std::vector<uint32_t> seen_rows;  // scoring-table rows, most recent first, at most kExplainSeenItems
  RecExplanation reply;             // built_from, fold-in fields
};

// The number of view blocks of a d-dimensional representation for --views=K: K where it divides d, else 1.
int32_t ViewBlocks(int32_t dim, int32_t views);

// The user's view weights: γ_u from the tables' view-weight table when it has the user's row (kGamma), else
// 1/K for K = `views` (kUniform).
void FillViewWeights(const ServingTables& tables, uint32_t user, int32_t views, RecExplanation* out);

// Fills one RecItemExplanation per ranked row (`rows`: the scoring-table rows of the reply's items, in reply
// order) into a copy of ctx.reply (which already holds the view weights) and returns it.
RecExplanation ExplainRanked(const ItemTable& table, const ExplainContext& ctx, const std::vector<uint32_t>& rows);

}  // namespace gpt4rec::server
