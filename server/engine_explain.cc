// Explanations (RecommendRequest.explain): per returned item, the user's seen items whose serving rows are most
// similar to it (their share of the positive similarity mass), the score split by view, and the user's view
// weights (the view-level prompt's γ_u, exported by the model with the serving representations); the definitions are documented on the proto's Explanation, and this file is their one implementation.
#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/engine.h"
#include "server/explain.h"

namespace gpt4rec::server {
namespace {

float Dot(const float* a, const float* b, int32_t n) {
  float s = 0;
  for (int32_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

}  // namespace

int32_t ViewBlocks(int32_t dim, int32_t views) {
  return views > 0 && dim > 0 && dim % views == 0 ? views : 1;
}

void FillViewWeights(const ServingTables& tables, uint32_t user, int32_t views, RecExplanation* out) {
  if (const float* gamma = tables.user_view_weights_row(user); gamma != nullptr && tables.views == views) {
    out->view_weights.assign(gamma, gamma + views);
    out->view_weights_source = ViewWeightsSource::kGamma;
  } else {
    out->view_weights.assign(views, 1.0f / static_cast<float>(views));
    out->view_weights_source = ViewWeightsSource::kUniform;
  }
}

RecExplanation ExplainRanked(const ItemTable& table, const ExplainContext& ctx, const std::vector<uint32_t>& rows) {
  RecExplanation out = ctx.reply;
  const int32_t dim = table.dim;
  const int32_t views = ViewBlocks(dim, ctx.views);
  const int32_t block = dim / views;
  const float* z_u = ctx.query.data();
  std::vector<std::pair<float, uint32_t>> positive;  // (c_j, row)
  positive.reserve(ctx.seen_rows.size());
  out.items.reserve(rows.size());
  for (const uint32_t row : rows) {
    const float* z_i = table.row(row);
    RecItemExplanation item;
    item.view_scores.resize(views);
    for (int32_t k = 0; k < views; ++k) item.view_scores[k] = Dot(z_u + k * block, z_i + k * block, block);
    positive.clear();
    double total = 0;
    for (const uint32_t seen : ctx.seen_rows) {
      const float c = Dot(table.row(seen), z_i, dim);
      if (c <= 0) continue;  // clipped at 0: a dissimilar item does not "contribute" negatively to a share
      positive.emplace_back(c, seen);
      total += c;
    }
    const size_t top = std::min(kExplainTopContributions, positive.size());
    // Largest first; equal contributions by row, so the order does not depend on the seen list's order.
    std::partial_sort(positive.begin(), positive.begin() + top, positive.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (size_t t = 0; t < top; ++t) {
      item.because_of.push_back({table.names[positive[t].second], static_cast<float>(positive[t].first / total)});
    }
    out.items.push_back(std::move(item));
  }
  return out;
}

std::shared_ptr<const ExplainContext> Engine::PrepareExplain(const ServingTables& tables, const NewItems* fresh,
                                                             const ItemTable& scoring, const std::vector<float>& query,
                                                             RecSource source, uint32_t user,
                                                             std::vector<storage::EdgeInfo> edges) const {
  auto ctx = std::make_shared<ExplainContext>();
  ctx->query = query;
  // The views the model exported its view weights for (they cut z the same way), else --views.
  ctx->views = ViewBlocks(tables.dim, tables.views > 0 ? tables.views : options_.model.views);
  FillViewWeights(tables, user, ctx->views, &ctx->reply);
  MostRecentFirst(&edges);
  const uint32_t trained = static_cast<uint32_t>(tables.num_items());
  // The seen items' rows in the scoring table: a trained item's row is its storage id; a folded-in new item's
  // comes after the trained rows, in fresh->ids order.
  for (const storage::EdgeInfo& e : edges) {
    if (ctx->seen_rows.size() == kExplainSeenItems) break;
    uint32_t row;
    if (e.other < trained) {
      row = e.other;
    } else if (fresh != nullptr) {
      auto pos = std::lower_bound(fresh->ids.begin(), fresh->ids.end(), e.other);
      if (pos == fresh->ids.end() || *pos != e.other) continue;
      row = trained + static_cast<uint32_t>(pos - fresh->ids.begin());
    } else {
      continue;  // no serving row yet
    }
    if (!scoring.names[row].empty()) ctx->seen_rows.push_back(row);
  }
  RecExplanation& reply = ctx->reply;
  if (source == RecSource::kModel) {
    reply.built_from = absl::StrCat("model: the user's trained representation (model version ", tables.version,
                                    ", trained through segment ", tables.trained_segment, ")");
  } else {
    // The fold-in query averaged exactly the edges whose item has a trained row (engine_fold_in.cc).
    for (const storage::EdgeInfo& e : edges) {
      if (e.other >= trained) continue;
      ++reply.fold_in_item_count;
      if (reply.fold_in_item_ids.size() < kExplainSeenItems && !tables.items->names[e.other].empty()) {
        reply.fold_in_item_ids.push_back(tables.items->names[e.other]);
      }
    }
    reply.built_from = absl::StrCat("fold_in: the mean of the trained representations of ", reply.fold_in_item_count,
                                    " items the user touched (model version ", tables.version,
                                    "); the user has edges newer than segment ", tables.trained_segment,
                                    " or no trained row");
  }
  return ctx;
}

}  // namespace gpt4rec::server
