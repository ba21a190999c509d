// Recommend without retraining: a user whose edges are all trained is served its trained row; a user with newer
// edges gets a folded-in query (the mean of the trained rows of their items); items stored after the training
// are folded in as the mean of their users' trained rows and scored in the same batched pass (one table).
#include "server/engine.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gpt4rec::server {

void Engine::Recommend(const std::string& user_id, uint32_t k, const std::vector<std::string>& exclude_item_ids,
                       const RecOptions& rec, std::chrono::steady_clock::time_point deadline, RecDone done) {
  const bool explain = rec.explain;
  if (online_ && rec.served_to_user) {
    // The online hit rate keeps the list before the reply leaves, so an event sent after it is tested on it.
    done = [online = online_.get(), user_id, done = std::move(done)](absl::StatusOr<RecResult> result) {
      if (result.ok()) {
        std::vector<std::string_view> items;
        items.reserve(std::min<size_t>(result->items.size(), OnlineHitRate::kDepth));
        for (const auto& item : result->items) {
          if (items.size() == OnlineHitRate::kDepth) break;
          items.push_back(item.item_id);
        }
        online->RecordServed(user_id, items, result->model_version);
      }
      done(std::move(result));
    };
  }
  auto tables = serving();
  std::vector<uint32_t> exclude;
  exclude.reserve(exclude_item_ids.size());
  for (const auto& id : exclude_item_ids) {
    if (auto item = store_->FindItem(id)) exclude.push_back(*item);
  }
  const auto user = store_->FindUser(user_id);
  std::vector<storage::EdgeInfo> edges;
  // Only explanations need the edges' times (most recent first); the rest needs ids and segments, which the
  // store answers from memory — UserItems reads every edge's value from disk.
  if (user) edges = explain ? store_->UserItems(*user) : store_->UserItemSegments(*user);
  if (!rec.include_seen) {
    for (const auto& e : edges) exclude.push_back(e.other);
  }
  std::sort(exclude.begin(), exclude.end());
  exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());
  if (!user || tables->num_items() == 0) {
    const char* why = !user ? "unknown user" : "no model yet";
    return done(Popular(exclude, k, tables->version, explain ? why : nullptr));
  }

  // The trained row is current unless the user gained edges after the model's last segment; then fold in:
  // the mean of the trained representations of every item the user touched (LightGCN's user representation is
  // itself a normalised sum over its items, so the mean lives in the same space and needs no training).
  const bool changed = std::any_of(edges.begin(), edges.end(), [&](const storage::EdgeInfo& e) {
    return static_cast<int64_t>(e.first_segment) > tables->trained_segment;
  });
  std::vector<float> query(tables->dim, 0.0f);
  RecSource source;
  if (!changed && static_cast<int32_t>(*user) < tables->num_users) {
    const float* row = tables->user_row(*user);
    std::copy(row, row + tables->dim, query.begin());
    source = RecSource::kModel;
  } else {
    int touched = 0;
    for (const auto& e : edges) {
      if (static_cast<int32_t>(e.other) >= tables->num_items()) continue;  // an item the model has not seen yet
      const float* row = tables->items->row(e.other);
      for (int32_t d = 0; d < tables->dim; ++d) query[d] += row[d];
      ++touched;
    }
    if (touched == 0) {
      return done(Popular(exclude, k, tables->version, explain ? "none of the user's items is trained" : nullptr));
    }
    for (auto& x : query) x /= static_cast<float>(touched);
    source = RecSource::kFoldIn;
  }
  // Score the trained items and the folded-in new ones together, in one batched pass over one table. Excluded
  // storage ids become row numbers of that table (the same below num_items, looked up above it).
  std::shared_ptr<const ItemTable> scoring = tables->items;
  auto fresh = std::atomic_load(&new_items_);
  if (fresh && fresh->base == tables->items.get() && fresh->scoring) {
    scoring = fresh->scoring;
    const uint32_t trained = static_cast<uint32_t>(tables->num_items());
    auto first_new = std::lower_bound(exclude.begin(), exclude.end(), trained);
    auto out = first_new;
    for (auto it = first_new; it != exclude.end(); ++it) {
      auto pos = std::lower_bound(fresh->ids.begin(), fresh->ids.end(), *it);
      if (pos != fresh->ids.end() && *pos == *it) *out++ = trained + static_cast<uint32_t>(pos - fresh->ids.begin());
    }
    exclude.erase(out, exclude.end());
  }
  std::shared_ptr<const ExplainContext> why;
  if (explain) {
    const NewItems* extends = scoring != tables->items ? fresh.get() : nullptr;
    why = PrepareExplain(*tables, extends, *scoring, query, source, *user, std::move(edges));
  }
  // Runs on a scoring thread once the batch containing this request is ranked.
  auto finish = [scoring, version = tables->version, source, why = std::move(why),
                 done = std::move(done)](absl::StatusOr<std::vector<Scored>> ranked) mutable {
    if (!ranked.ok()) return done(ranked.status());
    RecResult result;
    result.model_version = version;
    result.source = source;
    result.items.reserve(ranked->size());
    std::vector<uint32_t> rows;  // the kept items' rows, for the explanation
    for (const auto& s : *ranked) {
      const std::string& name = scoring->names[s.item];
      if (name.empty()) continue;  // no longer named by storage
      result.items.push_back({name, s.score});
      if (why) rows.push_back(s.item);
    }
    if (why) result.explanation = ExplainRanked(*scoring, *why, rows);
    done(std::move(result));
  };
  batcher_->Submit(scoring, std::move(query), k, std::move(exclude), std::move(finish), deadline);
}

void Engine::RefreshNewItems() {
  auto tables = serving();
  const uint64_t last = last_sequence_.load();
  auto current = std::atomic_load(&new_items_);
  if (current && current->base == tables->items.get() && current->through_sequence == last) return;
  auto fresh = std::make_shared<NewItems>();
  fresh->base = tables->items.get();
  fresh->through_sequence = last;
  const int32_t dim = tables->dim;
  const uint32_t space = store_->ItemIdSpace();
  std::vector<float> rows;  // folded-in rows, fresh->ids.size() x dim
  std::vector<std::string> names;
  if (tables->version > 0) {
    std::vector<float> mean(dim);
    for (uint32_t item = static_cast<uint32_t>(tables->num_items()); item < space; ++item) {
      std::fill(mean.begin(), mean.end(), 0.0f);
      int users = 0;
      for (const auto& e : store_->ItemUserSegments(item)) {
        if (static_cast<int32_t>(e.other) >= tables->num_users) continue;  // a user the model has not seen
        const float* row = tables->user_row(e.other);
        for (int32_t d = 0; d < dim; ++d) mean[d] += row[d];
        ++users;
      }
      if (users == 0) continue;
      auto name = store_->ItemName(item);
      if (!name.ok()) continue;
      for (auto& x : mean) x /= static_cast<float>(users);
      fresh->ids.push_back(item);
      rows.insert(rows.end(), mean.begin(), mean.end());
      names.push_back(std::move(*name));
    }
  }
  if (!fresh->ids.empty()) {
    const ItemTable& base = *tables->items;
    auto table = std::make_shared<ItemTable>();
    table->dim = dim;
    std::vector<float> all;
    all.reserve(base.packed.rows.size() + rows.size());
    all.insert(all.end(), base.packed.rows.begin(), base.packed.rows.end());
    all.insert(all.end(), rows.begin(), rows.end());
    table->packed = PackItems(all.data(), base.num_items() + static_cast<int32_t>(fresh->ids.size()), dim);
    table->names.reserve(base.names.size() + names.size());
    table->names = base.names;
    for (auto& n : names) table->names.push_back(std::move(n));
    fresh->scoring = std::move(table);
  }
  std::atomic_store(&new_items_, std::shared_ptr<const NewItems>(std::move(fresh)));
}

}  // namespace gpt4rec::server
