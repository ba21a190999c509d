#include "server/scoring_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <immintrin.h>

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

// --- bf16 pass (CPUs with AVX512-BF16) ---
// vdpbf16ps multiplies 32 bf16 pairs and accumulates into 16 fp32 lanes: twice the multiply-adds of an fp32 FMA
// per instruction, and half the bytes per item. Its scores are approximate; BatchTopK keeps every item whose
// approximate score is within a proven error bound of the k-th best and rescores those exactly in fp32, so the
// returned top-k is the exact one.
#define GPT4REC_BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl,avx512dq")))

// Also marks, per query, the panels in which some score exceeds that query's threshold (bit p of masks[j]), so
// the top-k fold only looks at those panels.
template <int QB>
GPT4REC_BF16_TARGET inline __attribute__((always_inline)) void PanelKernelBf16(const uint16_t* panels, int npanels,
                                                                               int pairs, const uint32_t* const* q,
                                                                               const float* thr, float* out,
                                                                               uint64_t* masks) {
  __m512 t[QB];
#pragma GCC unroll 8
  for (int j = 0; j < QB; ++j) t[j] = _mm512_set1_ps(thr[j]);
  for (int p = 0; p < npanels; ++p) {
    const uint16_t* panel = panels + static_cast<size_t>(p) * pairs * 2 * kPanelWidth;
    __m512 acc[QB];
#pragma GCC unroll 8
    for (int j = 0; j < QB; ++j) acc[j] = _mm512_setzero_ps();
    for (int d = 0; d < pairs; ++d) {
      const __m512i x = _mm512_loadu_si512(panel + d * 2 * kPanelWidth);
#pragma GCC unroll 8
      for (int j = 0; j < QB; ++j) {
        acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)x, (__m512bh)_mm512_set1_epi32(static_cast<int>(q[j][d])));
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < QB; ++j) {
      _mm512_storeu_ps(out + j * kChunkItems + p * kPanelWidth, acc[j]);
      if (_mm512_cmp_ps_mask(acc[j], t[j], _CMP_GT_OQ) != 0) masks[j] |= uint64_t{1} << p;
    }
  }
}

// npanels <= 64 (one mask bit per panel).
GPT4REC_BF16_TARGET void ScoreChunkBf16(const uint16_t* panels, int npanels, int pairs, const uint32_t* const* q,
                                        const float* thr, int nq, float* out, uint64_t* masks) {
  int j = 0;
  for (; j + 8 <= nq; j += 8) PanelKernelBf16<8>(panels, npanels, pairs, q + j, thr + j, out + j * kChunkItems, masks + j);
  if (j + 4 <= nq) {
    PanelKernelBf16<4>(panels, npanels, pairs, q + j, thr + j, out + j * kChunkItems, masks + j);
    j += 4;
  }
  if (j + 2 <= nq) {
    PanelKernelBf16<2>(panels, npanels, pairs, q + j, thr + j, out + j * kChunkItems, masks + j);
    j += 2;
  }
  if (j < nq) PanelKernelBf16<1>(panels, npanels, pairs, q + j, thr + j, out + j * kChunkItems, masks + j);
}

bool CpuHasBf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
  return has;
}

// Round to nearest even; inputs are finite.
uint16_t ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

bool Better(const Scored& a, const Scored& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}
// Min-heap on "goodness": the worst kept item is at the front.
struct HeapOrder {
  bool operator()(const Scored& a, const Scored& b) const { return Better(a, b); }
};

// Offers scores[i] (item base + i) to a heap that holds the best k so far.
inline void Offer(float score, uint32_t item, uint32_t k, std::vector<Scored>* heap) {
  if (heap->size() < k) {
    heap->push_back({score, item});
    std::push_heap(heap->begin(), heap->end(), HeapOrder());
  } else if (score > heap->front().score) {  // ties keep the lower id already held (items come in id order)
    std::pop_heap(heap->begin(), heap->end(), HeapOrder());
    heap->back() = {score, item};
    std::push_heap(heap->begin(), heap->end(), HeapOrder());
  }
}

typedef int32_t v16i __attribute__((vector_size(64)));

// Folds scores of items [base, base + n) into one query's heap. Excluded ids are overwritten with -inf first;
// then 16 scores at a time are compared with the heap's threshold, and only groups with a score above it are
// looked at one by one (once the heap is full, almost none are).
// With `candidates` (the bf16 pass), every item scoring above (k-th best - slack) is also kept there.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void FoldChunk(float* scores, uint32_t base, int n, uint32_t k, const std::vector<uint32_t>* exclude,
               size_t* exclude_pos, std::vector<Scored>* heap, std::vector<Scored>* candidates, float slack,
               uint64_t panel_mask) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (exclude != nullptr) {
    size_t& pos = *exclude_pos;
    while (pos < exclude->size() && (*exclude)[pos] < base) ++pos;
    while (pos < exclude->size() && (*exclude)[pos] < base + static_cast<uint32_t>(n)) {
      scores[(*exclude)[pos] - base] = kNegInf;
      ++pos;
    }
  }
  for (int i = n; i < ((n + kPanelWidth - 1) / kPanelWidth) * kPanelWidth; ++i) scores[i] = kNegInf;
  for (int i0 = 0; i0 < n; i0 += kPanelWidth) {
    // The kernel found no score above the threshold it was given in this panel (the threshold only rises).
    if (!((panel_mask >> (i0 / kPanelWidth)) & 1)) continue;
    if (heap->size() >= k) {
      v16 s;
      std::memcpy(&s, scores + i0, sizeof(s));
      const float t = heap->front().score - slack;
      v16i above = s > (v16{} + t);
      uint64_t lanes[8];
      std::memcpy(lanes, &above, sizeof(lanes));
      if ((lanes[0] | lanes[1] | lanes[2] | lanes[3] | lanes[4] | lanes[5] | lanes[6] | lanes[7]) == 0) continue;
    }
    const int end = std::min(n, i0 + kPanelWidth);
    for (int i = i0; i < end; ++i) {
      // -inf marks an excluded item; NaN never enters (it compares false).
      if (scores[i] == kNegInf || std::isnan(scores[i])) continue;
      const uint32_t item = base + static_cast<uint32_t>(i);
      Offer(scores[i], item, k, heap);
      if (candidates != nullptr && (heap->size() < k || scores[i] >= heap->front().score - slack)) {
        candidates->push_back({scores[i], item});
      }
    }
  }
  // Bound the candidate list: drop those that fell out of reach as the k-th best rose.
  if (candidates != nullptr && heap->size() >= k && candidates->size() > 4 * static_cast<size_t>(k) + 2048) {
    const float t = heap->front().score - slack;
    candidates->erase(std::remove_if(candidates->begin(), candidates->end(),
                                     [t](const Scored& c) { return c.score < t; }),
                      candidates->end());
  }
}

float ExactScore(const PackedItems& items, uint32_t item, const float* q) {
  const float* row = items.rows.data() + static_cast<size_t>(item) * items.dim;
  float s = 0;
  for (int d = 0; d < items.dim; ++d) s += q[d] * row[d];
  return s;
}

}  // namespace

PackedItems PackItems(const float* rows, int32_t num_items, int32_t dim, bool allow_bf16) {
  PackedItems packed;
  packed.num_items = num_items;
  packed.dim = dim;
  packed.rows.assign(rows, rows + static_cast<size_t>(num_items) * dim);
  if (allow_bf16 && CpuHasBf16() && dim % 2 == 0 && num_items > 0) {
    bool finite = true;
    packed.max_abs.assign(dim, 0.0f);
    for (size_t i = 0; i < packed.rows.size(); ++i) {
      const float a = std::fabs(packed.rows[i]);
      finite = finite && std::isfinite(a);
      packed.max_abs[i % dim] = std::max(packed.max_abs[i % dim], a);
    }
    for (int32_t i = 0; i < num_items; ++i) {
      double norm2 = 0;
      for (int32_t d = 0; d < dim; ++d) norm2 += static_cast<double>(rows[static_cast<size_t>(i) * dim + d]) * rows[static_cast<size_t>(i) * dim + d];
      packed.max_norm = std::max(packed.max_norm, std::sqrt(norm2) * (1 + 1e-6));  // margin for the rounding of the norm
    }
    if (finite) {  // non-finite values would break the error bound: stay exact-only
      const int pairs = dim / 2;
      packed.bf16_panels.assign(static_cast<size_t>(packed.num_panels()) * dim * kPanelWidth, 0);
      for (int32_t i = 0; i < num_items; ++i) {
        uint16_t* panel = packed.bf16_panels.data() + static_cast<size_t>(i / kPanelWidth) * dim * kPanelWidth;
        const int lane = i % kPanelWidth;
        const float* row = rows + static_cast<size_t>(i) * dim;
        for (int p = 0; p < pairs; ++p) {
          panel[p * 2 * kPanelWidth + 2 * lane] = ToBf16(row[2 * p]);
          panel[p * 2 * kPanelWidth + 2 * lane + 1] = ToBf16(row[2 * p + 1]);
        }
      }
      return packed;
    }
    packed.max_abs.clear();
  }
  packed.panels.assign(static_cast<size_t>(packed.num_panels()) * dim * kPanelWidth, 0.0f);
  for (int32_t i = 0; i < num_items; ++i) {
    float* panel = packed.panels.data() + static_cast<size_t>(i / kPanelWidth) * dim * kPanelWidth;
    const int lane = i % kPanelWidth;
    for (int32_t d = 0; d < dim; ++d) panel[d * kPanelWidth + lane] = rows[static_cast<size_t>(i) * dim + d];
  }
  return packed;
}

namespace {

void BatchTopKExact(const PackedItems& items, TopKQuery* queries, int num_queries) {
  std::vector<const float*> vectors(num_queries);
  std::vector<size_t> exclude_pos(num_queries, 0);
  for (int j = 0; j < num_queries; ++j) vectors[j] = queries[j].vector;
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
                &exclude_pos[j], queries[j].out, nullptr, 0, ~uint64_t{0});
    }
  }
}

void BatchTopKBf16(const PackedItems& items, TopKQuery* queries, int num_queries) {
  const int pairs = items.dim / 2;
  std::vector<std::vector<uint32_t>> qpairs(num_queries, std::vector<uint32_t>(pairs));
  std::vector<const uint32_t*> qptr(num_queries);
  std::vector<float> slack(num_queries);
  for (int j = 0; j < num_queries; ++j) {
    const float* q = queries[j].vector;
    double bound = 0;
    for (int p = 0; p < pairs; ++p) {
      qpairs[j][p] = static_cast<uint32_t>(ToBf16(q[2 * p])) | (static_cast<uint32_t>(ToBf16(q[2 * p + 1])) << 16);
    }
    // |approx - exact| <= sum_d |q_d| max_i |x_id| (2^-8 rounding of x + 2^-8 of q + their product) plus fp32
    // accumulation (~dim * 2^-24 relative): 2^-7 + 2^-12 covers it. Two items' errors add up: slack = 2 x bound.
    // sum_d |q_d| |x_d| is at most both sum_d |q_d| max_abs_d and |q| max_norm (Cauchy-Schwarz): take the smaller.
    double qnorm2 = 0;
    for (int d = 0; d < items.dim; ++d) {
      bound += std::fabs(q[d]) * items.max_abs[d];
      qnorm2 += static_cast<double>(q[d]) * q[d];
    }
    bound = std::min(bound, std::sqrt(qnorm2) * items.max_norm);
    slack[j] = static_cast<float>(2.0 * bound * (0x1.0p-7 + 0x1.0p-12)) + 1e-30f;
    qptr[j] = qpairs[j].data();
  }
  std::vector<size_t> exclude_pos(num_queries, 0);
  thread_local std::vector<float> scores;
  thread_local std::vector<std::vector<Scored>> heaps, candidates;
  scores.resize(static_cast<size_t>(num_queries) * kChunkItems);
  heaps.resize(std::max<size_t>(heaps.size(), num_queries));
  candidates.resize(std::max<size_t>(candidates.size(), num_queries));
  for (int j = 0; j < num_queries; ++j) {
    heaps[j].clear();
    candidates[j].clear();
  }
  const int panels_total = items.num_panels();
  const size_t panel_halves = static_cast<size_t>(items.dim) * kPanelWidth;
  std::vector<float> thr(num_queries);
  std::vector<uint64_t> masks(num_queries);
  for (int p0 = 0; p0 < panels_total; p0 += kChunkPanels) {
    const int np = std::min(kChunkPanels, panels_total - p0);
    for (int j = 0; j < num_queries; ++j) {
      thr[j] = heaps[j].size() >= queries[j].k && queries[j].k > 0 ? heaps[j].front().score - slack[j]
                                                                   : -std::numeric_limits<float>::infinity();
      masks[j] = 0;
    }
    ScoreChunkBf16(items.bf16_panels.data() + p0 * panel_halves, np, pairs, qptr.data(), thr.data(), num_queries,
                   scores.data(), masks.data());
    const uint32_t base = static_cast<uint32_t>(p0) * kPanelWidth;
    const int n = std::min<int>(np * kPanelWidth, items.num_items - static_cast<int>(base));
    for (int j = 0; j < num_queries; ++j) {
      if (queries[j].k == 0) continue;
      FoldChunk(scores.data() + static_cast<size_t>(j) * kChunkItems, base, n, queries[j].k, queries[j].exclude,
                &exclude_pos[j], &heaps[j], &candidates[j], slack[j], masks[j]);
    }
  }
  // Exact rescoring of every item that could still be in the true top-k.
  for (int j = 0; j < num_queries; ++j) {
    const uint32_t k = queries[j].k;
    if (k == 0) continue;
    const float t = heaps[j].size() >= k ? heaps[j].front().score - slack[j] : -std::numeric_limits<float>::infinity();
    std::vector<Scored>* out = queries[j].out;
    for (const Scored& c : candidates[j]) {
      if (c.score < t) continue;
      const float exact = ExactScore(items, c.item, queries[j].vector);
      if (!std::isnan(exact)) Offer(exact, c.item, k, out);
    }
  }
}

}  // namespace

void BatchTopK(const PackedItems& items, TopKQuery* queries, int num_queries) {
  if (num_queries <= 0) return;
  for (int j = 0; j < num_queries; ++j) {
    queries[j].out->clear();
    queries[j].out->reserve(std::min<uint32_t>(queries[j].k, static_cast<uint32_t>(items.num_items)));
  }
  if (items.has_bf16()) {
    BatchTopKBf16(items, queries, num_queries);
  } else {
    BatchTopKExact(items, queries, num_queries);
  }
  for (int j = 0; j < num_queries; ++j) std::sort(queries[j].out->begin(), queries[j].out->end(), Better);
}

}  // namespace gpt4rec::server
