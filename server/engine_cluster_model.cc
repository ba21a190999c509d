// Cluster mode's "one trainer at a time" (README "More than one machine"): the replica that holds the trainer
// lease (cluster/model_channel.h) trains each closed segment and publishes the result; every other replica
// adopts the published model instead of training.
//
// The published bytes (the model channel stores them chunked, with a checksum) are this replica's two model
// files, as written after a training:
//   "G4RP" | u32 format = 1 | u64 n | n bytes of <data_dir>/model/model.ckpt | u64 m | m bytes of serving.bin
// (integers little-endian). An adopting replica writes both files atomically, loads the checkpoint as its
// trainer's model (so it can take over training from the last published checkpoint) and swaps the serving
// tables from the serving file, as after its own training.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/engine.h"
#include "server/serving_file.h"
#include "spdlog/spdlog.h"
#include "util/atomic_file.h"

namespace gpt4rec::server {
namespace {

constexpr char kMagic[4] = {'G', '4', 'R', 'P'};
constexpr uint32_t kFormat = 1;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string Pack(const std::string& checkpoint, const std::string& serving) {
  std::string out(kMagic, sizeof kMagic);
  Put(&out, kFormat);
  Put<uint64_t>(&out, checkpoint.size());
  out += checkpoint;
  Put<uint64_t>(&out, serving.size());
  out += serving;
  return out;
}

absl::Status Unpack(const std::string& bytes, std::string* checkpoint, std::string* serving) {
  size_t pos = 0;
  auto take = [&](void* dst, size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  char magic[4];
  uint32_t format = 0;
  uint64_t n = 0;
  if (!take(magic, 4) || std::memcmp(magic, kMagic, 4) != 0 || !take(&format, 4) || format != kFormat)
    return absl::DataLossError("published model: not a G4RP v1 payload");
  for (std::string* part : {checkpoint, serving}) {
    if (!take(&n, 8) || bytes.size() - pos < n) return absl::DataLossError("published model: truncated");
    part->assign(bytes, pos, n);
    pos += n;
  }
  if (pos != bytes.size()) return absl::DataLossError("published model: trailing bytes");
  return absl::OkStatus();
}

// The model directory's checkpoint and serving file as one publication.
absl::StatusOr<std::string> PackModelFiles(const ModelDir& dir) {
  auto checkpoint = ReadWholeFile(dir.checkpoint());
  if (!checkpoint.ok()) return checkpoint.status();
  auto serving = ReadWholeFile(dir.serving_file());
  if (!serving.ok()) return serving.status();
  return Pack(*checkpoint, *serving);
}

// Test hook (cluster_test, "a replica adopting a model published before a DeleteUser"): with the variable set
// to a log sequence, adoption waits until this replica's store has applied it, so that a delete logged after the
// model's training is applied BEFORE the adoption (otherwise a race with the fetch decides the order). Unset in
// production.
bool AdoptHookAllowsAt(uint64_t applied) {
  const char* after = std::getenv("GPT4REC_TEST_ADOPT_AFTER_SEQUENCE");
  return after == nullptr || *after == 0 || applied >= std::strtoull(after, nullptr, 10);
}

}  // namespace

bool Engine::AdoptHookAllows() const { return AdoptHookAllowsAt(store_->AppliedPosition()); }

SegmentTrainer::GateDecision Engine::TrainOrAdopt(uint32_t segment, const std::atomic<bool>& cancel) {
  SegmentTrainer::GateDecision decision;
  bool waiting_logged = false;
  while (!cancel.load()) {
    auto head = models_->Head();
    if (head.ok() && head->segment >= static_cast<int64_t>(segment)) {
      // Published through this segment (or further): adopt it once this replica's store has those segments.
      const auto closed = store_->ClosedSegments();
      if (!closed.empty() && static_cast<int64_t>(closed.back().index) >= head->segment && AdoptHookAllows()) {
        auto model = AdoptPublished(*head);
        if (model.ok()) {
          decision.kind = SegmentTrainer::GateDecision::kAdopt;
          decision.model = std::move(*model);
          return decision;
        }
        spdlog::warn("adopting published model version {}: {}", head->version, model.status().ToString());
      }
    } else if (head.ok() && models_->TryAcquire()) {
      head_revision_ = head->revision;
      head_version_ = head->version;
      spdlog::info("this replica holds the trainer lease: training segment {}", segment);
      decision.kind = SegmentTrainer::GateDecision::kTrain;
      return decision;
    } else if (!waiting_logged) {
      spdlog::info("segment {}: another replica holds the trainer lease; waiting for its model", segment);
      waiting_logged = true;
    }
    models_->WaitForHeadChange(200);
  }
  return decision;  // kStop
}

absl::StatusOr<std::unique_ptr<model::RecommenderModel>> Engine::AdoptPublished(const cluster::ModelHead& head) {
  auto bytes = models_->Fetch(head);
  if (!bytes.ok()) return bytes.status();
  std::string checkpoint, serving;
  if (absl::Status s = Unpack(*bytes, &checkpoint, &serving); !s.ok()) return s;
  std::lock_guard<std::mutex> files_lock(trainer_->files_mutex());
  return InstallPublished(head, checkpoint, serving);
}

// At start-up, before the trainer exists. Only a published model is served in cluster mode: a trainer killed
// between its checkpoint and its publication restarts with files no other replica has (its own training of a
// segment another replica then trained and published, or one not published yet). When the published head is
// within what this store has closed and differs from the local files, it replaces them (the local checkpoint is
// kept beside as model.ckpt.unpublished); segments after it are then trained or adopted through the gate.
absl::StatusOr<std::unique_ptr<model::RecommenderModel>> Engine::AdoptPublishedAtStart(int64_t local_segment) {
  auto head = models_->Head();
  if (!head.ok()) {
    spdlog::warn("start-up: the cluster's model head is unreadable ({}); serving the local model files",
                 head.status().ToString());
    return std::unique_ptr<model::RecommenderModel>();
  }
  const auto closed = store_->ClosedSegments();
  if (head->version == 0 || closed.empty() || static_cast<int64_t>(closed.back().index) < head->segment) {
    return std::unique_ptr<model::RecommenderModel>();
  }
  // These files are that publication (trained here, adopted, or published again after a delete) and nothing
  // trained after it: keep them. Files of a later segment are a training nobody published: back to the head.
  if (auto mine = ReadWholeFile(model_dir_.published_head()); mine.ok()) {
    auto was = cluster::ParseHead(*mine);
    if (was.ok() && was->version == head->version && was->checksum == head->checksum &&
        head->segment == local_segment) {
      head_revision_ = head->revision;
      head_version_ = head->version;
      return std::unique_ptr<model::RecommenderModel>();
    }
  }
  auto bytes = models_->Fetch(*head);
  if (!bytes.ok()) return bytes.status();
  std::string checkpoint, serving;
  if (absl::Status s = Unpack(*bytes, &checkpoint, &serving); !s.ok()) return s;
  if (local_segment >= 0) {
    std::error_code ec;
    std::filesystem::copy_file(model_dir_.checkpoint(), model_dir_.checkpoint() + ".unpublished",
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
  spdlog::warn("start-up: the local model (segment {}) is not the cluster's published version {} (segment {}); "
               "adopting the published one", local_segment, head->version, head->segment);
  return InstallPublished(*head, checkpoint, serving);
}

absl::StatusOr<std::unique_ptr<model::RecommenderModel>> Engine::InstallPublished(const cluster::ModelHead& head,
                                                                                  const std::string& checkpoint,
                                                                                  const std::string& serving) {
  // Erasure: the model may have been trained before users this replica has since deleted (a replica that was
  // down, or joins, adopts a model published before a DeleteUser it then applied). Their rows are zeroed in the
  // model, the checkpoint and the serving file before anything serves them; deletes applied later zero them
  // through DeleteLocally (which waits for this lock) and SegmentTrainer's adopt step.
  const std::vector<uint32_t> gone = DeletedUsers(*store_);
  if (absl::Status s = util::WriteFileAtomically(model_dir_.checkpoint(), checkpoint); !s.ok()) return s;
  if (absl::Status s = util::WriteFileAtomically(model_dir_.serving_file(), serving); !s.ok()) return s;
  auto model = model::RecommenderModel::Load(model_dir_.checkpoint());
  if (!model.ok()) return model.status();
  auto file = ReadServingFile(model_dir_.serving_file());
  if (!file.ok()) return file.status();
  auto erased = EraseUsersInModelFiles(gone, model->get(), model_dir_.checkpoint(), &*file, model_dir_.serving_file());
  if (!erased.ok()) return erased.status();
  if (*erased) spdlog::info("adopted model version {}: rows of {} deleted users zeroed", head.version, gone.size());
  if (absl::Status s = PublishRepresentations(head.version, file->trained_segment, file->dim, file->num_users,
                                              std::move(file->users), file->num_items, std::move(file->items),
                                              file->views, std::move(file->user_view_weights));
      !s.ok()) {
    return s;
  }
  RecordPublishedHead(head);
  head_revision_ = head.revision;
  head_version_ = head.version;
  spdlog::info("model version {} (segment {}) adopted from the cluster's trainer and serving", head.version,
               head.segment);
  return model;
}

// Which publication the model files are (read at start-up by AdoptPublishedAtStart). A failed write is only
// logged: the next start then adopts the published model again, which is what these files are anyway.
void Engine::RecordPublishedHead(const cluster::ModelHead& head) {
  if (absl::Status s = util::WriteFileAtomically(model_dir_.published_head(), cluster::FormatHead(head)); !s.ok()) {
    spdlog::warn("{}: {}", model_dir_.published_head(), s.ToString());
  }
}

// On the log's apply thread, after DeleteLocally rewrote this replica's files. Under the trainer's files mutex,
// so that a training's PublishTrained (same mutex) sees the head revision this publication moved.
absl::Status Engine::RepublishAfterErasure() {
  if (!models_ || !models_->TryAcquire()) return absl::OkStatus();  // another replica holds the lease: its turn
  // Test hook (cluster_test, "a replica adopting a model published before a DeleteUser"): while the file the
  // variable names exists, nothing is published again, so that a late replica adopts the copy from before the
  // delete and its own erasure is what is tested. Unset in production.
  if (const char* hold = std::getenv("GPT4REC_TEST_HOLD_REPUBLISH");
      hold != nullptr && *hold != 0 && std::filesystem::exists(hold)) {
    return absl::OkStatus();
  }
  std::lock_guard<std::mutex> files_lock(trainer_->files_mutex());
  auto head = models_->Head();
  if (!head.ok()) return head.status();
  if (head->version == 0 || head->version != head_version_.load()) return absl::OkStatus();
  auto packed = PackModelFiles(model_dir_);
  if (!packed.ok()) return packed.status();
  auto now = models_->Publish(head->version, head->segment, *packed, head->revision);
  if (!now.ok()) return now.status();
  RecordPublishedHead(*now);
  head_revision_ = now->revision;
  spdlog::info("model version {} published again without the deleted user's rows", head->version);
  return absl::OkStatus();
}

// On the training thread, under the trainer's files mutex, after the checkpoint and the serving file are written.
absl::Status Engine::PublishTrained(uint64_t version, int64_t segment) {
  // Test hook (cluster_test, "killed between its checkpoint and its publication"): with the variable set to a
  // file path, the first process to get here creates that file and dies at once by SIGKILL — after its
  // checkpoint and serving file are written, before anything is published. Unset in production.
  if (const char* marker = std::getenv("GPT4REC_TEST_DIE_BEFORE_PUBLISH"); marker != nullptr && *marker != 0) {
    if (const int fd = ::open(marker, O_CREAT | O_EXCL | O_WRONLY, 0644); fd >= 0) {
      ::close(fd);
      ::raise(SIGKILL);
    }
  }
  auto packed = PackModelFiles(model_dir_);
  if (!packed.ok()) return packed.status();
  auto head = models_->Publish(version, segment, *packed, head_revision_.load());
  if (!head.ok()) return head.status();
  RecordPublishedHead(*head);
  head_revision_ = head->revision;
  head_version_ = head->version;
  spdlog::info("model version {} (segment {}) published to the cluster ({} bytes in {} chunks)", version, segment,
               head->bytes, head->chunks);
  return absl::OkStatus();
}

}  // namespace gpt4rec::server
