// Exact batched top-k: scores a batch of query vectors against every item in ONE pass over the item matrix.
//
// Why not one scan per request: a 100k x 64 fp32 item matrix is 25.6 MB, and streaming it costs ~0.8 ms per core,
// which caps per-request scanning near 1,250 requests/s per core. Scoring B queries per pass divides the memory
// traffic by B; what remains is compute (B x items x dim multiply-adds), done with 16-lane FMA kernels compiled for
// AVX-512, AVX2 and baseline x86-64 and picked at run time.
//
// Items are packed into panels of 16 items stored dimension-major (dim x 16 floats), so a kernel loads one vector
// of 16 item coordinates and multiplies it by one broadcast query coordinate per query. Scores are produced a
// chunk of items at a time (fits L2) and folded into each query's top-k heap before the next chunk, so the full
// B x items score matrix is never written to memory.
#pragma once

#include <cstdint>
#include <vector>

namespace gpt4rec::server {

inline constexpr int kPanelWidth = 16;

// The item matrix in panel layout. Padding items (past num_items) are zero and never returned.
struct PackedItems {
  int32_t num_items = 0;
  int32_t dim = 0;
  std::vector<float> rows;    // num_items x dim, row-major (fold-in means, exact rescoring)
  std::vector<float> panels;  // ceil(num_items / 16) * dim * 16; empty when the bf16 copy is used instead
  // The panels in bf16, dimension pairs interleaved per item (the layout of vdpbf16ps), and the largest |x| per
  // dimension (for the error bound). Empty unless the CPU has AVX512-BF16 and dim is even.
  std::vector<uint16_t> bf16_panels;
  std::vector<float> max_abs;
  double max_norm = 0;  // largest item norm (a second, often tighter, error bound)

  bool has_bf16() const { return !bf16_panels.empty(); }

  int32_t num_panels() const { return (num_items + kPanelWidth - 1) / kPanelWidth; }
};

// rows: num_items x dim, row-major. allow_bf16: also build the bf16 copy when the CPU supports it (a first pass
// at twice the speed whose candidates are rescored exactly; the result is the same exact top-k).
PackedItems PackItems(const float* rows, int32_t num_items, int32_t dim, bool allow_bf16 = true);

// A scored item: higher score first, then lower item id.
struct Scored {
  float score = 0;
  uint32_t item = 0;
};

struct TopKQuery {
  const float* vector = nullptr;              // dim floats
  uint32_t k = 20;
  const std::vector<uint32_t>* exclude = nullptr;  // sorted ascending, may be null; ids never returned
  std::vector<Scored>* out = nullptr;         // filled best first, at most k items
};

// Exact top-k for every query in one pass over the items (bf16 pass + exact rescoring of the candidates when
// the packed items have a bf16 copy, fp32 otherwise). Thread-safe (no shared mutable state).
void BatchTopK(const PackedItems& items, TopKQuery* queries, int num_queries);

}  // namespace gpt4rec::server
