#include "model/csr_spmm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "model/test_support.h"

namespace gpt4rec::model {
namespace {

// y = Â x, rows in parallel. The inner loop over d is contiguous and vectorised by the compiler.
void CsrSpmmKernel(const NormAdjacency& a, const float* x, float* y, int64_t d) {
  const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
  const int32_t* col = a.col.data_ptr<int32_t>();
  const float* val = a.val.data_ptr<float>();
  at::parallel_for(0, a.num_nodes, 512, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* __restrict__ yr = y + r * d;
      for (int64_t k = 0; k < d; ++k) yr[k] = 0.f;
      for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
        const float v = val[j];
        const float* __restrict__ xr = x + static_cast<int64_t>(col[j]) * d;
        for (int64_t k = 0; k < d; ++k) yr[k] += v * xr[k];
      }
    }
  });
}

torch::Tensor CsrSpmm(const NormAdjacency& a, const torch::Tensor& x) {
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  CsrSpmmKernel(a, xc.data_ptr<float>(), y.data_ptr<float>(), xc.size(1));
  return y;
}

class AdjacencyMatmulFn : public torch::autograd::Function<AdjacencyMatmulFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, int64_t adjacency) {
    ctx->saved_data["adj"] = adjacency;
    return CsrSpmm(*reinterpret_cast<const NormAdjacency*>(adjacency), x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto* a = reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    return {CsrSpmm(*a, grad[0]), torch::Tensor()};
  }
};

void PairGatherKernel(const NormAdjacency& a, const float* x, float* out, int64_t f, bool weighted) {
  const int64_t* eu = a.edge_user.data_ptr<int64_t>();
  const int64_t* ei = a.edge_item.data_ptr<int64_t>();
  const float* ev = a.edge_val.data_ptr<float>();
  at::parallel_for(0, a.edge_user.numel(), 2048, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const float* __restrict__ xu = x + eu[e] * f;
      const float* __restrict__ xi = x + ei[e] * f;
      float* __restrict__ o = out + e * f;
      const float v = weighted ? ev[e] : 1.f;
      for (int64_t k = 0; k < f; ++k) o[k] = v * (xu[k] + xi[k]);
    }
  });
}

// Rows [first_row, end_row) of the scatter (end_row < 0: to the last node); the rows outside are not written.
void RowScatterKernel(const NormAdjacency& a, const float* w, float* out, int64_t f, bool weighted,
                      int64_t first_row = 0, int64_t end_row = -1) {
  const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
  const float* val = a.val.data_ptr<float>();
  const int64_t* edge = a.entry_edge.data_ptr<int64_t>();
  at::parallel_for(first_row, end_row < 0 ? a.num_nodes : end_row, 512, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* __restrict__ o = out + r * f;
      for (int64_t k = 0; k < f; ++k) o[k] = 0.f;
      for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
        const float* __restrict__ src = w + edge[j] * f;
        const float v = weighted ? val[j] : 1.f;
        for (int64_t k = 0; k < f; ++k) o[k] += v * src[k];
      }
    }
  });
}

torch::Tensor PairGather(const NormAdjacency& a, const torch::Tensor& x, bool weighted) {
  auto xc = x.contiguous();
  auto out = torch::empty({a.edge_user.numel(), xc.size(1)}, xc.options());
  PairGatherKernel(a, xc.data_ptr<float>(), out.data_ptr<float>(), xc.size(1), weighted);
  return out;
}

torch::Tensor RowScatter(const NormAdjacency& a, const torch::Tensor& w, bool weighted) {
  auto wc = w.contiguous();
  auto out = torch::empty({a.num_nodes, wc.size(1)}, wc.options());
  RowScatterKernel(a, wc.data_ptr<float>(), out.data_ptr<float>(), wc.size(1), weighted);
  return out;
}

class GatherEdgePairsFn : public torch::autograd::Function<GatherEdgePairsFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, int64_t adjacency,
                               bool weighted) {
    ctx->saved_data["adj"] = adjacency;
    ctx->saved_data["weighted"] = weighted;
    return PairGather(*reinterpret_cast<const NormAdjacency*>(adjacency), x, weighted);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto* a = reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    return {RowScatter(*a, grad[0], ctx->saved_data["weighted"].toBool()), torch::Tensor(), torch::Tensor()};
  }
};

class ScatterEdgesFn : public torch::autograd::Function<ScatterEdgesFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor w, int64_t adjacency,
                               bool weighted) {
    ctx->saved_data["adj"] = adjacency;
    ctx->saved_data["weighted"] = weighted;
    return RowScatter(*reinterpret_cast<const NormAdjacency*>(adjacency), w, weighted);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto* a = reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    return {PairGather(*a, grad[0], ctx->saved_data["weighted"].toBool()), torch::Tensor(), torch::Tensor()};
  }
};

// y[r, k*dk + c] = sum_j val_j gate[edge_j, k] x[col_j, k*dk + c]. The gated Â is still symmetric, so the same
// kernel is the backward in x.
torch::Tensor GatedSpmm(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& gate) {
  auto xc = x.contiguous();
  auto gc = gate.contiguous();
  const int64_t d = xc.size(1), K = gc.size(1), dk = d / K;
  auto y = torch::empty_like(xc);
  const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
  const int32_t* col = a.col.data_ptr<int32_t>();
  const float* val = a.val.data_ptr<float>();
  const int64_t* edge = a.entry_edge.data_ptr<int64_t>();
  const float* xp = xc.data_ptr<float>();
  const float* gp = gc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, a.num_nodes, 512, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* __restrict__ yr = yp + r * d;
      for (int64_t c = 0; c < d; ++c) yr[c] = 0.f;
      for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
        const float* __restrict__ xr = xp + static_cast<int64_t>(col[j]) * d;
        const float* g = gp + edge[j] * K;
        for (int64_t k = 0; k < K; ++k) {
          const float v = val[j] * g[k];
          for (int64_t c = k * dk; c < (k + 1) * dk; ++c) yr[c] += v * xr[c];
        }
      }
    }
  });
  return y;
}

class GatedMatmulFn : public torch::autograd::Function<GatedMatmulFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor gate,
                               int64_t adjacency) {
    ctx->saved_data["adj"] = adjacency;
    ctx->save_for_backward({x, gate});
    return GatedSpmm(*reinterpret_cast<const NormAdjacency*>(adjacency), x, gate);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto& a = *reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    auto saved = ctx->get_saved_variables();
    auto x = saved[0].contiguous(), gate = saved[1];
    auto gy = grad[0].contiguous();
    auto gx = GatedSpmm(a, gy, gate);
    // d/dgate[e,k] = val_e * (<gy[u]_k, x[i]_k> + <gy[i]_k, x[u]_k>)
    const int64_t d = x.size(1), K = gate.size(1), dk = d / K, E = a.edge_user.numel();
    auto gg = torch::empty({E, K});
    const int64_t* eu = a.edge_user.data_ptr<int64_t>();
    const int64_t* ei = a.edge_item.data_ptr<int64_t>();
    const float* ev = a.edge_val.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    const float* gyp = gy.data_ptr<float>();
    float* ggp = gg.data_ptr<float>();
    at::parallel_for(0, E, 2048, [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) {
        const float* gu = gyp + eu[e] * d;
        const float* gi = gyp + ei[e] * d;
        const float* xu = xp + eu[e] * d;
        const float* xi = xp + ei[e] * d;
        for (int64_t k = 0; k < K; ++k) {
          float s = 0.f;
          for (int64_t c = k * dk; c < (k + 1) * dk; ++c) s += gu[c] * xi[c] + gi[c] * xu[c];
          ggp[e * K + k] = ev[e] * s;
        }
      }
    });
    return {gx, gg, torch::Tensor()};
  }
};

// y[r, k*dk + c] = sum_j val_j w[bucket_j, k] x[col_j, k*dk + c]. The bucket weights are first expanded to one
// d-wide row per bucket, so the inner loop runs over d contiguous floats like the plain kernel's (a loop per view
// over dk floats measured 3x slower: 61 vs 20 ms CPU for one product at Koubei's size, 135k edges, d = 64).
torch::Tensor BucketSpmm(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& w) {
  auto xc = x.contiguous();
  const int64_t d = xc.size(1), dk = d / w.size(1);
  auto wrow = w.repeat_interleave(dk, 1).contiguous();  // [buckets, d]
  auto y = torch::empty_like(xc);
  const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
  const int32_t* col = a.col.data_ptr<int32_t>();
  const float* val = a.val.data_ptr<float>();
  const uint8_t* bucket = a.entry_bucket.data_ptr<uint8_t>();
  const float* xp = xc.data_ptr<float>();
  const float* wp = wrow.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, a.num_nodes, 512, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* __restrict__ yr = yp + r * d;
      for (int64_t c = 0; c < d; ++c) yr[c] = 0.f;
      for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
        const float v = val[j];
        const float* __restrict__ xr = xp + static_cast<int64_t>(col[j]) * d;
        const float* __restrict__ wr = wp + static_cast<int64_t>(bucket[j]) * d;
        for (int64_t c = 0; c < d; ++c) yr[c] += v * wr[c] * xr[c];
      }
    }
  });
  return y;
}

class BucketMatmulFn : public torch::autograd::Function<BucketMatmulFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, torch::Tensor w,
                               int64_t adjacency) {
    ctx->saved_data["adj"] = adjacency;
    ctx->save_for_backward({x, w});
    return BucketSpmm(*reinterpret_cast<const NormAdjacency*>(adjacency), x, w);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto& a = *reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    auto saved = ctx->get_saved_variables();
    auto x = saved[0].contiguous(), w = saved[1].contiguous();
    auto gy = grad[0].contiguous();
    // gx = the weighted Â times gy (it is symmetric), and d/dw[b,k] = sum over edges e in bucket b of
    // val_e (<gy[u]_k, x[i]_k> + <gy[i]_k, x[u]_k>) — each half of that sum is one CSR entry (r, col_j) of the
    // gx product: val_j <gy[col_j]_k, x[r]_k>. So one pass over the entries gives both: the row's gy[col_j] is
    // loaded once for gx, and its product with x[r] (the row being written, in cache) is added to a d-wide row
    // per bucket (elementwise, so it vectorises), where a separate pass over the edges for dw read four random
    // rows per edge. Rows go in fixed chunks with partial sums of their own, added in chunk order in double, so
    // the result does not depend on the thread count.
    const int64_t B = w.size(0), K = w.size(1), d = x.size(1), dk = d / K;
    auto wrow = w.repeat_interleave(dk, 1).contiguous();  // [buckets, d]
    auto gx = torch::empty_like(gy);
    const int64_t chunk = 512, chunks = (a.num_nodes + chunk - 1) / chunk;
    std::vector<float> partial(static_cast<size_t>(std::max<int64_t>(chunks, 1) * B * d), 0.f);
    const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
    const int32_t* col = a.col.data_ptr<int32_t>();
    const float* val = a.val.data_ptr<float>();
    const uint8_t* bucket = a.entry_bucket.data_ptr<uint8_t>();
    const float* xp = x.data_ptr<float>();
    const float* gyp = gy.data_ptr<float>();
    const float* wp = wrow.data_ptr<float>();
    float* gxp = gx.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        float* acc = partial.data() + c * B * d;
        for (int64_t r = c * chunk; r < std::min(a.num_nodes, (c + 1) * chunk); ++r) {
          float* __restrict__ out = gxp + r * d;
          const float* __restrict__ xr = xp + r * d;
          for (int64_t q = 0; q < d; ++q) out[q] = 0.f;
          for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
            const float v = val[j];
            const float* __restrict__ g = gyp + static_cast<int64_t>(col[j]) * d;
            const float* __restrict__ wr = wp + static_cast<int64_t>(bucket[j]) * d;
            float* __restrict__ row = acc + static_cast<int64_t>(bucket[j]) * d;
            for (int64_t q = 0; q < d; ++q) {
              const float t = v * g[q];
              out[q] += wr[q] * t;
              row[q] += t * xr[q];
            }
          }
        }
      }
    });
    std::vector<double> total(static_cast<size_t>(B * K), 0.0);
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t q = 0; q < B * d; ++q) total[(q / d) * K + (q % d) / dk] += partial[c * B * d + q];
    auto gw = torch::empty({B, K});
    float* gwp = gw.data_ptr<float>();
    for (int64_t q = 0; q < B * K; ++q) gwp[q] = static_cast<float>(total[q]);
    return {gx, gw, torch::Tensor()};
  }
};

class ShortRowSoftmaxFn : public torch::autograd::Function<ShortRowSoftmaxFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x) {
    auto xc = x.contiguous();
    auto y = torch::empty_like(xc);
    const int64_t m = xc.size(-1), rows = xc.numel() / std::max<int64_t>(m, 1);
    const float* xp = xc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, rows, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* a = xp + r * m;
        float* o = yp + r * m;
        float mx = a[0];
        for (int64_t k = 1; k < m; ++k) mx = std::max(mx, a[k]);
        float sum = 0.f;
        for (int64_t k = 0; k < m; ++k) sum += (o[k] = std::exp(a[k] - mx));
        const float inv = 1.f / sum;
        for (int64_t k = 0; k < m; ++k) o[k] *= inv;
      }
    });
    ctx->save_for_backward({y});
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    auto y = ctx->get_saved_variables()[0];
    auto gy = grad[0].contiguous();
    auto gx = torch::empty_like(y);
    const int64_t m = y.size(-1), rows = y.numel() / std::max<int64_t>(m, 1);
    const float* yp = y.data_ptr<float>();
    const float* gp = gy.data_ptr<float>();
    float* op = gx.data_ptr<float>();
    at::parallel_for(0, rows, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* yr = yp + r * m;
        const float* gr = gp + r * m;
        float dot = 0.f;
        for (int64_t k = 0; k < m; ++k) dot += gr[k] * yr[k];
        for (int64_t k = 0; k < m; ++k) op[r * m + k] = yr[k] * (gr[k] - dot);
      }
    });
    return {gx};
  }
};

// The softmax structure prompt's edge work. An edge's logits are the sum of its two ends' rows, so its softmax
// factors: softmax(l_u + l_i)_q = p_u,q p_i,q / sum_q' p_u,q' p_i,q' with p = exp(l - max over the group) per node.
// The exps are taken once per node (N·F of them) instead of once per edge (E·F; at ml-100k's density they were
// most of the term's time), and what is left per edge is a product and a normalisation. Forward and backward
// each make two passes over the CSR rows, users then items (parallel, no atomics, deterministic for any thread
// count); the one [E, F] tensor kept is β per edge, formed once. Composed from GatherEdgePairs, ShortRowSoftmax
// and ScatterEdgesToNodes the same term wrote and re-read three [E, F] tensors each way; a whole GPT4Rec replay
// on ml-100k (4 segments, fixed epochs) takes 0.86x the process CPU of that form.
//
// Layout: the kernels work on rows transposed to [m, G] ("interleaved": the q-th member of every group side by
// side), F = G·m. A group's sum is then G-wide vector adds and its normalisation one G-wide multiply, with no
// horizontal reduction; with G and m fixed at compile time (the default K = 4 views, M = 4 prompts: one SSE
// register per member) the compiler vectorises every loop. In the grouped layout the per-group loops ran scalar
// and this kernel cost more CPU than every SpMM of the step together. kG = kM = 0 reads both at run time.
struct GroupShape {
  int64_t g, m;  // G groups of m
};

// [N, G·m] grouped <-> interleaved (a copy of N·F floats; the per-entry work is what counts).
torch::Tensor Interleave(const torch::Tensor& t, GroupShape s) {
  return t.view({t.size(0), s.g, s.m}).transpose(1, 2).contiguous().view({t.size(0), s.g * s.m});
}
torch::Tensor Deinterleave(const torch::Tensor& t, GroupShape s) {
  return t.view({t.size(0), s.m, s.g}).transpose(1, 2).contiguous().view({t.size(0), s.g * s.m});
}

// p = exp(l - max over the group), interleaved rows.
torch::Tensor GroupExp(const torch::Tensor& logits, GroupShape s) {
  const int64_t n = logits.size(0), f = logits.size(1);
  auto p = torch::empty_like(logits);
  const float* lp = logits.data_ptr<float>();
  float* pp = p.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    std::vector<float> mx(static_cast<size_t>(s.g));
    for (int64_t r = begin; r < end; ++r) {
      const float* l = lp + r * f;
      for (int64_t g = 0; g < s.g; ++g) mx[g] = l[g];
      for (int64_t q = 1; q < s.m; ++q)
        for (int64_t g = 0; g < s.g; ++g) mx[g] = std::max(mx[g], l[q * s.g + g]);
      for (int64_t q = 0; q < s.m; ++q)
        for (int64_t g = 0; g < s.g; ++g) pp[r * f + q * s.g + g] = std::exp(l[q * s.g + g] - mx[g]);
    }
  });
  return p;
}

template <int kG, int kM>
struct EdgeKernel {
  int64_t g, m;  // used only where kG / kM are 0
  int64_t G() const { return kG > 0 ? kG : g; }
  int64_t M() const { return kM > 0 ? kM : m; }

  // β for the edge between rows r and c into out (interleaved). Each factor's largest entry is 1, so a group's
  // normaliser only underflows when the two ends disagree by more than ~87 nats in every member; then that group
  // is computed from the logits directly.
  inline void Beta(const float* __restrict__ pr, const float* __restrict__ pc, const float* lr, const float* lc,
                   float* __restrict__ out, float* __restrict__ sum) const {
    const int64_t G_ = G(), M_ = M();
    for (int64_t q = 0; q < G_ * M_; ++q) out[q] = pr[q] * pc[q];
    for (int64_t k = 0; k < G_; ++k) sum[k] = out[k];
    for (int64_t q = 1; q < M_; ++q)
      for (int64_t k = 0; k < G_; ++k) sum[k] += out[q * G_ + k];
    bool ok = true;
    for (int64_t k = 0; k < G_; ++k) ok &= sum[k] > 1e-30f;
    if (!ok) {
      for (int64_t k = 0; k < G_; ++k) {
        if (sum[k] > 1e-30f) continue;
        float mx = lr[k] + lc[k];
        for (int64_t q = 1; q < M_; ++q) mx = std::max(mx, lr[q * G_ + k] + lc[q * G_ + k]);
        sum[k] = 0.f;
        for (int64_t q = 0; q < M_; ++q) sum[k] += (out[q * G_ + k] = std::exp(lr[q * G_ + k] + lc[q * G_ + k] - mx));
      }
    }
    for (int64_t k = 0; k < G_; ++k) sum[k] = 1.f / sum[k];
    for (int64_t q = 0; q < M_; ++q)
      for (int64_t k = 0; k < G_; ++k) out[q * G_ + k] *= sum[k];
  }

  // out[r] = sum_j val_j β(r, col_j). β is symmetric in its two ends, so it is computed once per undirected
  // edge, in the user rows' pass (user rows hold entries [0, E) in edge order), kept in beta_out [E, F] for the
  // item rows' pass and for the backward: half the β work of computing it from both ends, none in the backward.
  void Forward(const NormAdjacency& a, const float* lp, const float* pp, float* op, float* beta_out) const {
    const int64_t f = G() * M();
    const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
    const int32_t* col = a.col.data_ptr<int32_t>();
    const float* val = a.val.data_ptr<float>();
    at::parallel_for(0, a.num_users, 512, [&](int64_t begin, int64_t end) {
      std::vector<float> sum(static_cast<size_t>(G()));
      for (int64_t r = begin; r < end; ++r) {
        float* __restrict__ o = op + r * f;
        for (int64_t q = 0; q < f; ++q) o[q] = 0.f;
        for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
          const int64_t c = col[j];
          float* __restrict__ beta = beta_out + j * f;
          Beta(pp + r * f, pp + c * f, lp + r * f, lp + c * f, beta, sum.data());
          const float v = val[j];
          for (int64_t q = 0; q < f; ++q) o[q] += v * beta[q];
        }
      }
    });
    RowScatterKernel(a, beta_out, op, f, /*weighted=*/true, a.num_users);  // the item rows' half
  }

  // d/dlogits[r] = sum over r's edges of val · β ⊙ (h - <h, β>) per group with h = G[r] + G[c]: each edge's β
  // fed the term of both of its ends, and the term is the same at both, so it too is formed once per edge (user
  // rows' pass, into delta [E, F]) and added to the item end in the second pass.
  void Backward(const NormAdjacency& a, const float* bp, const float* gp, float* op, float* delta) const {
    const int64_t G_ = G(), M_ = M(), f = G_ * M_;
    const int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
    const int32_t* col = a.col.data_ptr<int32_t>();
    const float* val = a.val.data_ptr<float>();
    at::parallel_for(0, a.num_users, 512, [&](int64_t begin, int64_t end) {
      std::vector<float> h(static_cast<size_t>(f)), dot(static_cast<size_t>(G_));
      for (int64_t r = begin; r < end; ++r) {
        float* __restrict__ o = op + r * f;
        for (int64_t q = 0; q < f; ++q) o[q] = 0.f;
        const float* __restrict__ gr = gp + r * f;
        for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) {
          const float* __restrict__ beta = bp + j * f;
          const float* __restrict__ gc = gp + static_cast<int64_t>(col[j]) * f;
          float* __restrict__ dj = delta + j * f;
          const float v = val[j];
          for (int64_t q = 0; q < f; ++q) h[q] = gr[q] + gc[q];
          for (int64_t k = 0; k < G_; ++k) dot[k] = h[k] * beta[k];
          for (int64_t q = 1; q < M_; ++q)
            for (int64_t k = 0; k < G_; ++k) dot[k] += h[q * G_ + k] * beta[q * G_ + k];
          for (int64_t q = 0; q < M_; ++q)
            for (int64_t k = 0; k < G_; ++k) dj[q * G_ + k] = beta[q * G_ + k] * (h[q * G_ + k] - dot[k]);
          for (int64_t q = 0; q < f; ++q) o[q] += v * dj[q];
        }
      }
    });
    RowScatterKernel(a, delta, op, f, /*weighted=*/true, a.num_users);  // the item rows' half
  }
};

// The shapes with a compiled-in path (G = views K, m = structure_prompts M); any other runs the run-time form.
template <typename Fn>
void WithEdgeKernel(GroupShape s, Fn&& fn) {
  if (s.g == 4 && s.m == 4) return fn(EdgeKernel<4, 4>{s.g, s.m});
  if (s.g == 4 && s.m == 2) return fn(EdgeKernel<4, 2>{s.g, s.m});
  if (s.g == 4 && s.m == 8) return fn(EdgeKernel<4, 8>{s.g, s.m});
  return fn(EdgeKernel<0, 0>{s.g, s.m});
}

// Inputs and outputs in the grouped layout; the saved per-edge β interleaved.
class EdgeSoftmaxScatterFn : public torch::autograd::Function<EdgeSoftmaxScatterFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor logits, int64_t adjacency,
                               int64_t m) {
    const GroupShape s{logits.size(1) / m, m};
    const auto& a = *reinterpret_cast<const NormAdjacency*>(adjacency);
    auto li = Interleave(logits.contiguous(), s);
    auto p = GroupExp(li, s);
    auto out = torch::empty({a.num_nodes, li.size(1)}, li.options());
    auto beta = torch::empty({a.edge_user.size(0), li.size(1)}, li.options());
    WithEdgeKernel(s, [&](const auto& k) {
      k.Forward(a, li.data_ptr<float>(), p.data_ptr<float>(), out.data_ptr<float>(), beta.data_ptr<float>());
    });
    ctx->saved_data["adj"] = adjacency;
    ctx->saved_data["m"] = m;
    ctx->save_for_backward({beta});
    return Deinterleave(out, s);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto& a = *reinterpret_cast<const NormAdjacency*>(ctx->saved_data["adj"].toInt());
    auto beta = ctx->get_saved_variables()[0];
    const int64_t m = ctx->saved_data["m"].toInt();
    const GroupShape s{beta.size(1) / m, m};
    auto gi = Interleave(grad[0].contiguous(), s);
    auto out = torch::empty_like(gi);
    auto delta = torch::empty_like(beta);
    WithEdgeKernel(s, [&](const auto& k) {
      k.Backward(a, beta.data_ptr<float>(), gi.data_ptr<float>(), out.data_ptr<float>(), delta.data_ptr<float>());
    });
    return {Deinterleave(out, s), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor ShortRowSoftmax(const torch::Tensor& x) { return ShortRowSoftmaxFn::apply(x); }

torch::Tensor GatherEdgePairs(const NormAdjacency& a, const torch::Tensor& x, bool weighted) {
  return GatherEdgePairsFn::apply(x, reinterpret_cast<int64_t>(&a), weighted);
}

torch::Tensor ScatterEdgesToNodes(const NormAdjacency& a, const torch::Tensor& w, bool weighted) {
  return ScatterEdgesFn::apply(w, reinterpret_cast<int64_t>(&a), weighted);
}

torch::Tensor EdgeSoftmaxScatter(const NormAdjacency& a, const torch::Tensor& logits, int64_t group) {
  TORCH_CHECK(group > 0 && logits.dim() == 2 && logits.size(1) % group == 0 && logits.size(0) == a.num_nodes,
              "EdgeSoftmaxScatter: logits must be [nodes, groups * group]");
  return EdgeSoftmaxScatterFn::apply(logits, reinterpret_cast<int64_t>(&a), group);
}

torch::Tensor BucketWeightedAdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& w) {
  return BucketMatmulFn::apply(x, w, reinterpret_cast<int64_t>(&a));
}

torch::Tensor GatedAdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x, const torch::Tensor& gate) {
  return GatedMatmulFn::apply(x, gate, reinterpret_cast<int64_t>(&a));
}

int RecencyBucket(int32_t age) {
  static constexpr int32_t kUpper[kRecencyBuckets - 1] = {0, 1, 2, 3, 5, 8, 15};  // inclusive bucket ends
  int b = 0;
  while (b < kRecencyBuckets - 1 && age > kUpper[b]) ++b;
  return b;
}

NormAdjacency BuildNormAdjacency(const BipartiteCsr& g) {
  NormAdjacency a;
  const int64_t U = g.num_users, I = g.num_items, E = g.num_edges();
  a.num_users = U;
  a.num_items = I;
  a.num_nodes = U + I;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  a.rowptr = torch::empty({U + I + 1}, i64);
  a.col = torch::empty({2 * E}, torch::kInt32);
  a.val = torch::empty({2 * E}, torch::kFloat32);
  a.edge_user = torch::empty({E}, i64);
  a.edge_item = torch::empty({E}, i64);
  a.edge_val = torch::empty({E}, torch::kFloat32);
  a.entry_edge = torch::empty({2 * E}, i64);
  a.entry_row = torch::empty({2 * E}, i64);
  int64_t* rowptr = a.rowptr.data_ptr<int64_t>();
  int32_t* col = a.col.data_ptr<int32_t>();
  float* val = a.val.data_ptr<float>();
  int64_t* eu = a.edge_user.data_ptr<int64_t>();
  int64_t* ei = a.edge_item.data_ptr<int64_t>();
  float* ev = a.edge_val.data_ptr<float>();
  int64_t* entry_edge = a.entry_edge.data_ptr<int64_t>();
  int64_t* entry_row = a.entry_row.data_ptr<int64_t>();

  auto inv_sqrt_deg = [](int64_t deg) { return deg > 0 ? 1.0 / std::sqrt(static_cast<double>(deg)) : 0.0; };
  // User rows occupy entries [0, E) in the same order as the user-major edge list.
  for (int64_t u = 0; u <= U; ++u) rowptr[u] = g.user_ptr[u];
  for (int64_t u = 0; u < U; ++u) {
    const double du = inv_sqrt_deg(g.user_ptr[u + 1] - g.user_ptr[u]);
    for (int64_t j = g.user_ptr[u]; j < g.user_ptr[u + 1]; ++j) {
      const int32_t i = g.user_items[j];
      const float v = static_cast<float>(du * inv_sqrt_deg(g.item_ptr[i + 1] - g.item_ptr[i]));
      col[j] = static_cast<int32_t>(U + i);
      val[j] = v;
      eu[j] = u;
      ei[j] = U + i;
      ev[j] = v;
      entry_edge[j] = j;
      entry_row[j] = u;
    }
  }
  // Item rows occupy [E, 2E); item_users is the transpose, so walk users again to find each entry's edge id.
  for (int64_t i = 0; i <= I; ++i) rowptr[U + i] = E + g.item_ptr[i];
  std::vector<int64_t> fill(g.item_ptr.begin(), g.item_ptr.end() - 1);
  for (int64_t u = 0; u < U; ++u) {
    for (int64_t j = g.user_ptr[u]; j < g.user_ptr[u + 1]; ++j) {
      const int32_t i = g.user_items[j];
      const int64_t e = E + fill[i]++;
      col[e] = static_cast<int32_t>(u);
      val[e] = val[j];
      entry_edge[e] = j;
      entry_row[e] = U + i;
    }
  }
  if (!g.user_age.empty() && std::any_of(g.user_age.begin(), g.user_age.end(), [](int32_t x) { return x > 0; })) {
    a.edge_bucket = torch::empty({E}, i64);
    int64_t* eb = a.edge_bucket.data_ptr<int64_t>();
    for (int64_t j = 0; j < E; ++j) eb[j] = RecencyBucket(g.user_age[j]);
    a.entry_bucket = torch::empty({2 * E}, torch::kUInt8);
    uint8_t* entry_b = a.entry_bucket.data_ptr<uint8_t>();
    for (int64_t j = 0; j < 2 * E; ++j) entry_b[j] = static_cast<uint8_t>(eb[entry_edge[j]]);
    a.row_bucket_sum = torch::zeros({a.num_nodes, kRecencyBuckets});
    float* rb = a.row_bucket_sum.data_ptr<float>();
    for (int64_t r = 0; r < a.num_nodes; ++r) {
      double sum[kRecencyBuckets] = {};
      for (int64_t j = rowptr[r]; j < rowptr[r + 1]; ++j) sum[entry_b[j]] += val[j];
      for (int b = 0; b < kRecencyBuckets; ++b) rb[r * kRecencyBuckets + b] = static_cast<float>(sum[b]);
    }
  }
  return a;
}

torch::Tensor AdjacencyMatmul(const NormAdjacency& a, const torch::Tensor& x) {
  return AdjacencyMatmulFn::apply(x, reinterpret_cast<int64_t>(&a));
}

std::vector<SpmmTiming> MeasureSpmmBackends(const Graph& graph, int dim, int reps, int threads) {
  if (threads > 0) torch::set_num_threads(threads);
  const BipartiteCsr g = PrepareGraph(graph);
  const NormAdjacency a = BuildNormAdjacency(g);
  torch::manual_seed(1);
  auto x = torch::randn({a.num_nodes, dim});
  auto time_it = [&](const std::function<torch::Tensor()>& fn, torch::Tensor* result) {
    *result = fn();  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) *result = fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  };
  std::vector<SpmmTiming> out;
  torch::Tensor ref, got;
  out.push_back({"csr_parallel_kernel", time_it([&] { return CsrSpmm(a, x); }, &ref), 0.0});

  auto rows = torch::repeat_interleave(torch::arange(a.num_nodes),
                                       a.rowptr.slice(0, 1) - a.rowptr.slice(0, 0, a.num_nodes));
  auto coo = torch::sparse_coo_tensor(torch::stack({rows, a.col.to(torch::kInt64)}), a.val,
                                      {a.num_nodes, a.num_nodes})
                 .coalesce();
  double t_coo = time_it([&] { return torch::mm(coo, x); }, &got);
  out.push_back({"torch_sparse_coo_mm", t_coo, (got - ref).abs().max().item<double>()});

  try {
    auto csr = torch::sparse_csr_tensor(a.rowptr, a.col.to(torch::kInt64), a.val, {a.num_nodes, a.num_nodes},
                                        torch::TensorOptions().dtype(torch::kFloat32));
    double t_csr = time_it([&] { return torch::mm(csr, x); }, &got);
    out.push_back({"torch_sparse_csr_mm", t_csr, (got - ref).abs().max().item<double>()});
  } catch (const std::exception& e) {
    out.push_back({"torch_sparse_csr_mm", -1.0, -1.0});
  }
  return out;
}

}  // namespace gpt4rec::model
