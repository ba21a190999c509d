// model/'s test and bench seam (LevelDB keeps its TEST_ hooks out of db.h the same way): what tests and benches
// may reach beyond the contract in recommender_model.h. Torch-free. Not needed for serving; the server and eval
// never include it.
//   - measurement probes (sparse backends, a serving refresh, a fixed epoch schedule), found by dynamic_cast on
//     the model behind the contract;
//   - the checkpoint file's contents (ReadCheckpointFile: config text, counters, named arrays), which tests read
//     back to check what training changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/checkpoint_io.h"
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

// Makes the next training step throw a c10::Error inside LibTorch, as a failing op would, to check that the
// contract returns it as a Status (INTERNAL naming the entry point) instead of letting it escape.
absl::Status ThrowOnNextTrainingStep(RecommenderModel& model);

// The lsp strategy's last update: the teacher's rows (frozen copies of the previous model's ID rows, row-major
// old_users × dim and old_items × dim), each old node's drawn neighbours (old × neighbours, ids on the other
// side), the teacher's log-probabilities over them and whether the node has any old neighbour.
// FAILED_PRECONDITION before an lsp update at t >= 1.
struct LspTeacherState {
  int32_t old_users = 0, old_items = 0, dim = 0, neighbours = 0;
  std::vector<float> teacher_users, teacher_items;
  std::vector<int64_t> user_neighbours, item_neighbours;
  std::vector<float> user_log_target, item_log_target;
  std::vector<uint8_t> user_valid, item_valid;
};
absl::StatusOr<LspTeacherState> LastLspTeacher(const RecommenderModel& model);

}  // namespace gpt4rec::model
