// The immutable state Recommend reads: one trained model's representations plus what serving needs around them.
// Published by an atomic shared_ptr swap after each training; requests in flight keep the one they started with.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/scoring_kernel.h"

namespace gpt4rec::server {

// Trained item representations with what a reply needs: the kernel's layouts (incl. row-major rows for fold-in
// means) and external names (so replies need no storage lookups).
struct ItemTable {
  int32_t dim = 0;
  PackedItems packed;
  std::vector<std::string> names;   // num_items; empty string for an id storage no longer names

  int32_t num_items() const { return packed.num_items; }
  const float* row(uint32_t i) const { return packed.rows.data() + static_cast<size_t>(i) * dim; }
};

struct ServingTables {
  uint64_t version = 0;          // 0: no model yet (known users are served by popularity)
  int64_t trained_segment = -1;  // last segment in the model's graph; users with edges of later segments fold in
  int32_t dim = 0;
  int32_t num_users = 0;         // dense user ids [0, num_users) have a trained row
  std::shared_ptr<const std::vector<float>> users;  // num_users x dim
  std::shared_ptr<const ItemTable> items;           // shared by tables that differ only in users
  // The view-level prompt's γ per trained user (model::Embeddings::user_view_weights), num_users x views, rows
  // summing to 1 (an erased user's row: zeros); views = 0: not available (a serving file of format 1).
  int32_t views = 0;
  std::shared_ptr<const std::vector<float>> user_view_weights;

  int32_t num_items() const { return items ? items->num_items() : 0; }
  const float* user_row(uint32_t u) const { return users->data() + static_cast<size_t>(u) * dim; }
  // γ_u, or null where the table is not available.
  const float* user_view_weights_row(uint32_t u) const {
    if (views <= 0 || !user_view_weights || static_cast<int32_t>(u) >= num_users) return nullptr;
    return user_view_weights->data() + static_cast<size_t>(u) * views;
  }
};

}  // namespace gpt4rec::server
