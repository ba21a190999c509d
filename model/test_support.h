// model/ measurement hooks for benchmarks (torch-free, like the main contract). Not needed for serving.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/recommender_model.h"

namespace gpt4rec::model {

struct SpmmTiming {
  std::string backend;       // "csr_parallel_kernel" (what the model uses), "torch_sparse_coo_mm", ...
  double seconds = 0;        // one Â·X product, mean over reps; -1 when the backend is unavailable
  double max_abs_diff = 0;   // against the kernel's result
};

// Times one forward Â·X ([users+items] × dim) with each backend on `graph`.
std::vector<SpmmTiming> MeasureSpmmBackends(const Graph& graph, int dim, int reps, int threads);

// Recomputes the final representations over the model's last graph (the cost of a serving refresh) and
// returns the seconds it took. FAILED_PRECONDITION before the first Update.
absl::StatusOr<double> RecomputeEmbeddings(RecommenderModel& model);

// Changes the epoch schedule (max_epochs, min_epochs) used by the next Updates, e.g. to time a fixed number of
// epochs. INVALID_ARGUMENT for negative values.
absl::Status SetEpochs(RecommenderModel& model, int max_epochs, int min_epochs);

}  // namespace gpt4rec::model
