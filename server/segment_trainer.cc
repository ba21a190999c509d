#include "server/segment_trainer.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "util/split_mix64.h"

namespace gpt4rec::server {
namespace {

bool HeldOut(uint32_t user, uint32_t item, uint64_t seed, double fraction) {
  const uint64_t h = util::SplitMix64((static_cast<uint64_t>(user) << 32 | item) ^ util::SplitMix64(seed));
  return static_cast<double>(h >> 11) * 0x1.0p-53 < fraction;
}

constexpr size_t kMinEdgesToSplit = 20;

}  // namespace

SegmentTrainer::SegmentTrainer(storage::GraphStore* store, std::unique_ptr<model::RecommenderModel> model,
                               const SegmentTrainerOptions& options, PublishFn publish, ProgressFn progress,
                               GateFn gate)
    : store_(store),
      model_(std::move(model)),
      options_(options),
      publish_(std::move(publish)),
      progress_(std::move(progress)),
      gate_(std::move(gate)) {
  trained_ = static_cast<int64_t>(model_->segments_seen()) - 1;
  target_ = trained_;
  thread_ = std::thread([this] { Loop(); });
}

SegmentTrainer::~SegmentTrainer() { Stop(); }

void SegmentTrainer::TrainThrough(uint32_t segment) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    target_ = std::max<int64_t>(target_, segment);
  }
  cv_.notify_all();
}

void SegmentTrainer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cancel_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t SegmentTrainer::trained_segment() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trained_;
}

uint32_t SegmentTrainer::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<uint32_t>(std::max<int64_t>(0, target_ - trained_));
}

bool SegmentTrainer::training_now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

std::string SegmentTrainer::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

bool SegmentTrainer::WaitIdle(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return stopping_ || (!running_ && target_ <= trained_); });
}

void SegmentTrainer::Loop() {
  for (;;) {
    uint32_t segment;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || target_ > trained_; });
      if (stopping_) return;
      segment = static_cast<uint32_t>(trained_ + 1);
      running_ = gate_ == nullptr;
    }
    if (gate_) {
      GateDecision decision = gate_(segment, cancel_);
      if (decision.kind == GateDecision::kStop) continue;  // stopping_: the wait above returns
      if (decision.kind == GateDecision::kAdopt) {
        // The gate zeroed the rows of users its store had deleted. A DeleteUser applied after the gate released
        // the files lock (and before this swap) erased and saved the model being replaced: zero the adopted one
        // too and rewrite the checkpoint from it, so neither the model nor its file keeps such a user's row.
        // Lock order as in Engine::DeleteLocally: files, then mu_.
        std::lock_guard<std::mutex> files_lock(files_mu_);
        std::lock_guard<std::mutex> lock(mu_);
        model_ = std::move(decision.model);
        for (int32_t user : erased_) (void)model_->EraseUser(user);
        if (!erased_.empty() && model_->segments_seen() > 0) {
          if (absl::Status s = model_->Save(options_.checkpoint_path); !s.ok()) {
            spdlog::error("adopted model: rewriting the checkpoint without erased users: {}", s.ToString());
          }
        }
        trained_ = static_cast<int64_t>(model_->segments_seen()) - 1;
        cv_.notify_all();
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      running_ = true;
    }
    absl::Status status = TrainOne(segment);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
      if (status.ok()) {
        trained_ = segment;
      } else if (absl::IsCancelled(status) && stopping_) {
        spdlog::info("training of segment {} interrupted by shutdown; it is trained again after the next start",
                     segment);
      } else {
        // Without this segment the model cannot take the next ones (it consumes segments in order): stop here
        // and let an operator look; a restart retries.
        spdlog::error("training segment {} failed: {}; training paused until restart", segment,
                      status.ToString());
        last_error_ = absl::StrCat("segment ", segment, ": ", status.ToString());
        target_ = trained_;
      }
    }
    cv_.notify_all();
  }
}

absl::Status SegmentTrainer::TrainOne(uint32_t segment) {
  const auto t0 = std::chrono::steady_clock::now();
  auto csr = store_->AccumulatedCsr(segment);
  if (!csr.ok()) return csr.status();
  auto edges = store_->SegmentEdges(segment);
  if (!edges.ok()) return edges.status();

  model::SegmentInput input;
  std::vector<storage::EdgePair> held_out;  // sorted (user, item), as SegmentEdges is
  const bool split = edges->size() >= kMinEdgesToSplit && options_.valid_fraction > 0;
  for (const auto& e : *edges) {
    if (split && HeldOut(e.user, e.item, options_.split_seed, options_.valid_fraction)) {
      held_out.push_back(e);
      input.valid.push_back({static_cast<int32_t>(e.user), static_cast<int32_t>(e.item)});
    } else {
      input.train.push_back({static_cast<int32_t>(e.user), static_cast<int32_t>(e.item)});
    }
  }
  // The training graph: the accumulated graph minus the held-out edges (merge of two sorted lists).
  model::Graph graph;
  graph.num_users = static_cast<int32_t>(csr->num_users);
  graph.num_items = static_cast<int32_t>(csr->num_items);
  graph.indptr.reserve(csr->num_users + 1);
  graph.indices.reserve(csr->indices.size());
  graph.indptr.push_back(0);
  size_t h = 0;
  for (uint32_t u = 0; u < csr->num_users; ++u) {
    for (int64_t p = csr->indptr[u]; p < csr->indptr[u + 1]; ++p) {
      const uint32_t item = static_cast<uint32_t>(csr->indices[p]);
      while (h < held_out.size() && (held_out[h].user < u || (held_out[h].user == u && held_out[h].item < item))) {
        ++h;
      }
      if (h < held_out.size() && held_out[h].user == u && held_out[h].item == item) continue;
      graph.indices.push_back(static_cast<int32_t>(item));
      // The recency prompt's edge age: segments since the edge was last seen (0 when seen again after `segment`,
      // which happens only when training lags behind the segment clock).
      const uint32_t last = std::min(csr->last_segment[p], segment);
      graph.edge_age.push_back(static_cast<int32_t>(segment - last));
    }
    graph.indptr.push_back(static_cast<int64_t>(graph.indices.size()));
  }
  input.graph = &graph;
  input.cancel = &cancel_;
  spdlog::info("training segment {}: {} users, {} items, {} graph edges, {} train / {} valid edges", segment,
               graph.num_users, graph.num_items, graph.indices.size(), input.train.size(), input.valid.size());

  {
    std::lock_guard<std::mutex> lock(mu_);
    updating_ = true;
  }
  auto report = model_->Update(input, [&](const model::EpochLog& log) {
    if (progress_) progress_(segment, log);
  });
  {
    std::lock_guard<std::mutex> lock(mu_);
    updating_ = false;
    for (int32_t user : erased_) {
      if (absl::Status s = model_->EraseUser(user); !s.ok() && report.ok()) report = s;
    }
  }
  if (!report.ok()) return report.status();
  auto embeddings = model_->ExportEmbeddings();
  if (!embeddings.ok()) return embeddings.status();

  TrainingOutcome outcome;
  outcome.segment = segment;
  outcome.report = *report;
  outcome.report.segment = static_cast<int>(segment);
  if (outcome.report.seconds <= 0) {
    outcome.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  outcome.embeddings = std::move(*embeddings);
  outcome.finished_at = static_cast<int64_t>(std::time(nullptr));
  {
    // Checkpoint first, then the serving file (published). A kill between the two leaves the checkpoint one
    // segment ahead of serving.bin, which start-up serves by re-exporting the checkpoint: the segment is NOT
    // trained again (the reverse order made a kill there train it twice).
    std::lock_guard<std::mutex> lock(files_mu_);
    if (absl::Status s = model_->Save(options_.checkpoint_path); !s.ok()) {
      return absl::InternalError(absl::StrCat("model checkpoint: ", s.message()));
    }
    if (absl::Status s = publish_(std::move(outcome)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SegmentTrainer::EraseUser(int32_t dense_user) {
  std::lock_guard<std::mutex> lock(mu_);
  erased_.push_back(dense_user);
  if (updating_) return absl::OkStatus();  // TrainOne zeroes it after the Update
  if (absl::Status s = model_->EraseUser(dense_user); !s.ok()) return s;
  if (model_->segments_seen() == 0) return absl::OkStatus();  // no checkpoint holds a trained row yet
  return model_->Save(options_.checkpoint_path);
}

}  // namespace gpt4rec::server
