#include "server/scoring_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace gpt4rec::server {
namespace {

typedef float v16 __attribute__((vector_size(64)));

// Items per chunk: 64 panels x 16 = 1024 items; at d=64 the chunk is 256 KB of items (fits L2) and the score
// buffer for a batch of 64 queries is another 256 KB.
constexpr int kChunkPanels = 64;
constexpr int kChunkItems = kChunkPanels * kPanelWidth;

// QB queries against `npanels` panels: out[q * kChunkItems + p * 16 + lane]. Inlined into each ISA clone below.
template <int QB>
inline __attribute__((always_inline)) void PanelKernel(const float* panels, int npanels, int dim,
                                                       const float* const* q, float* out) {
  for (int p = 0; p < npanels; ++p) {
    const float* panel = panels + static_cast<size_t>(p) * dim * kPanelWidth;
    v16 acc[QB];
#pragma GCC unroll 8
    for (int j = 0; j < QB; ++j) acc[j] = v16{};
    for (int d = 0; d < dim; ++d) {
      v16 x;
      std::memcpy(&x, panel + d * kPanelWidth, sizeof(x));
#pragma GCC unroll 8
      for (int j = 0; j < QB; ++j) acc[j] += x * q[j][d];
    }
#pragma GCC unroll 8
    for (int j = 0; j < QB; ++j) std::memcpy(out + j * kChunkItems + p * kPanelWidth, &acc[j], sizeof(v16));
  }
}

// One chunk of panels against up to any number of queries, in register blocks of 8/4/2/1 queries.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void ScoreChunk(const float* panels, int npanels, int dim, const float* const* q, int nq, float* out) {
  int j = 0;
  for (; j + 8 <= nq; j += 8) PanelKernel<8>(panels, npanels, dim, q + j, out + j * kChunkItems);
  if (j + 4 <= nq) { PanelKernel<4>(panels, npanels, dim, q + j, out + j * kChunkItems); j += 4; }
  if (j + 2 <= nq) { PanelKernel<2>(panels, npanels, dim, q + j, out + j * kChunkItems); j += 2; }
  if (j < nq) PanelKernel<1>(panels, npanels, dim, q + j, out + j * kChunkItems);
}

bool Better(const Scored& a, const Scored& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}
// Min-heap on "goodness": the worst kept item is at the front.
struct HeapOrder {
  bool operator()(const Scored& a, const Scored& b) const { return Better(a, b); }
};

// Folds scores of items [base, base + n) into one query's heap, skipping excluded ids.
void FoldChunk(const float* scores, uint32_t base, int n, uint32_t k, const std::vector<uint32_t>* exclude,
               size_t* exclude_pos, std::vector<Scored>* heap) {
  uint32_t next_excluded = std::numeric_limits<uint32_t>::max();
  if (exclude != nullptr) {
    while (*exclude_pos < exclude->size() && (*exclude)[*exclude_pos] < base) ++*exclude_pos;
    if (*exclude_pos < exclude->size()) next_excluded = (*exclude)[*exclude_pos];
  }
  float threshold = heap->size() < k ? -std::numeric_limits<float>::infinity() : heap->front().score;
  for (int i = 0; i < n; ++i) {
    const float s = scores[i];
    const uint32_t item = base + static_cast<uint32_t>(i);
    if (item == next_excluded) {
      ++*exclude_pos;
      next_excluded = *exclude_pos < exclude->size() ? (*exclude)[*exclude_pos]
                                                     : std::numeric_limits<uint32_t>::max();
      continue;
    }
    // Ties with the current worst never displace it (it has the lower id, as items come in id order).
    if (!(s > threshold) && heap->size() >= k) continue;
    if (std::isnan(s)) continue;
    if (heap->size() < k) {
      heap->push_back({s, item});
      std::push_heap(heap->begin(), heap->end(), HeapOrder());
    } else {
      std::pop_heap(heap->begin(), heap->end(), HeapOrder());
      heap->back() = {s, item};
      std::push_heap(heap->begin(), heap->end(), HeapOrder());
    }
    if (heap->size() >= k) threshold = heap->front().score;
  }
}

}  // namespace

PackedItems PackItems(const float* rows, int32_t num_items, int32_t dim) {
  PackedItems packed;
  packed.num_items = num_items;
  packed.dim = dim;
  packed.panels.assign(static_cast<size_t>(packed.num_panels()) * dim * kPanelWidth, 0.0f);
  for (int32_t i = 0; i < num_items; ++i) {
    float* panel = packed.panels.data() + static_cast<size_t>(i / kPanelWidth) * dim * kPanelWidth;
    const int lane = i % kPanelWidth;
    for (int32_t d = 0; d < dim; ++d) panel[d * kPanelWidth + lane] = rows[static_cast<size_t>(i) * dim + d];
  }
  return packed;
}

void BatchTopK(const PackedItems& items, TopKQuery* queries, int num_queries) {
  if (num_queries <= 0) return;
  std::vector<const float*> vectors(num_queries);
  std::vector<size_t> exclude_pos(num_queries, 0);
  for (int j = 0; j < num_queries; ++j) {
    vectors[j] = queries[j].vector;
    queries[j].out->clear();
    queries[j].out->reserve(std::min<uint32_t>(queries[j].k, static_cast<uint32_t>(items.num_items)));
  }
  thread_local std::vector<float> scores;
  scores.resize(static_cast<size_t>(num_queries) * kChunkItems);
  const int panels_total = items.num_panels();
  const size_t panel_floats = static_cast<size_t>(items.dim) * kPanelWidth;
  for (int p0 = 0; p0 < panels_total; p0 += kChunkPanels) {
    const int np = std::min(kChunkPanels, panels_total - p0);
    ScoreChunk(items.panels.data() + p0 * panel_floats, np, items.dim, vectors.data(), num_queries,
               scores.data());
    const uint32_t base = static_cast<uint32_t>(p0) * kPanelWidth;
    const int n = std::min<int>(np * kPanelWidth, items.num_items - static_cast<int>(base));
    for (int j = 0; j < num_queries; ++j) {
      if (queries[j].k == 0) continue;
      FoldChunk(scores.data() + static_cast<size_t>(j) * kChunkItems, base, n, queries[j].k, queries[j].exclude,
                &exclude_pos[j], queries[j].out);
    }
  }
  for (int j = 0; j < num_queries; ++j) std::sort(queries[j].out->begin(), queries[j].out->end(), Better);
}

void ScoreAll(const PackedItems& items, const float* vector, std::vector<float>* out) {
  out->assign(items.num_items, 0.0f);
  std::vector<float> scores(kChunkItems);
  const float* q[1] = {vector};
  const size_t panel_floats = static_cast<size_t>(items.dim) * kPanelWidth;
  for (int p0 = 0; p0 < items.num_panels(); p0 += kChunkPanels) {
    const int np = std::min(kChunkPanels, items.num_panels() - p0);
    ScoreChunk(items.panels.data() + p0 * panel_floats, np, items.dim, q, 1, scores.data());
    const int base = p0 * kPanelWidth;
    const int n = std::min(np * kPanelWidth, items.num_items - base);
    std::copy(scores.begin(), scores.begin() + n, out->begin() + base);
  }
}

}  // namespace gpt4rec::server
