// RecommendRequest.explain end to end on a real server: the definitions of the proto's Explanation checked
// number by number against a synthetic model whose rows the test knows, and the invariants (shares sorted and
// summing to at most 1, explained items among the user's seen items, the same reply with explain on and off) on
// a trained model.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "model/recommender_model.h"
#include "server/serving_file.h"
#include "server/test_support.h"
#include "tests/common/temp_dir.h"
#include "tests/server/server_fixture.h"

using namespace gpt4rec::testing;
using gpt4rec::server::test_support::SyntheticModel;

namespace {

grpc::Status Explained(v1::Recommender::Stub* stub, const std::string& user, uint32_t k, v1::RecommendReply* rep,
                       bool explain = true) {
  grpc::ClientContext ctx;
  WithDeadline(&ctx);
  v1::RecommendRequest req;
  req.set_user_id(user);
  req.set_k(k);
  req.set_explain(explain);
  return stub->Recommend(&ctx, req, rep);
}

float Dot(const float* a, const float* b, int n) {
  float s = 0;
  for (int d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// The reply is the same with and without explain: items, scores, source, version.
void CheckSameReply(const v1::RecommendReply& plain, const v1::RecommendReply& explained) {
  REQUIRE(plain.items_size() == explained.items_size());
  CHECK(plain.source() == explained.source());
  CHECK(plain.model_version() == explained.model_version());
  for (int i = 0; i < plain.items_size(); ++i) {
    CHECK(plain.items(i).item_id() == explained.items(i).item_id());
    CHECK(plain.items(i).score() == explained.items(i).score());
  }
  CHECK_FALSE(plain.has_explanation());
  REQUIRE(explained.has_explanation());
  REQUIRE(explained.explanation().items_size() == explained.items_size());
  for (int i = 0; i < explained.items_size(); ++i) {
    CHECK(explained.explanation().items(i).item_id() == explained.items(i).item_id());
  }
}

// Shares in (0, 1], largest first, summing to at most 1; every contributing item one the user has seen.
void CheckShares(const v1::RecommendReply& rep, const std::set<std::string>& seen) {
  for (const auto& item : rep.explanation().items()) {
    CHECK(item.because_of_size() <= 3);
    double sum = 0;
    for (int c = 0; c < item.because_of_size(); ++c) {
      const auto& because = item.because_of(c);
      CHECK(because.share() > 0);
      CHECK(because.share() <= 1.0f + 1e-6f);
      if (c > 0) CHECK(item.because_of(c - 1).share() >= because.share());
      CHECK(seen.count(because.item_id()) == 1);
      sum += because.share();
    }
    CHECK(sum <= 1.0 + 1e-5);
  }
}

}  // namespace

TEST_CASE("explain: the proto's definitions, number by number, on a synthetic model") {
  TempDir dir("server-explain");
  auto options = SmallServerOptions(dir / "data");  // views = 2
  auto server = StartServer(options);
  auto stub = Connect(server->port());

  // Dense ids follow first appearance: user u0 = 0 touches items i0..i259 (i0 oldest), user v0 = 1 touches
  // i260..i299; so u0 has more seen items than the 200 an explanation looks at.
  constexpr int kItems = 300, kSeen = 260, kDim = 8;
  v1::IngestRequest req;
  for (int i = 0; i < kSeen; ++i) *req.add_events() = MakeEvent("u0", "i" + std::to_string(i), 1000 + i);
  for (int i = kSeen; i < kItems; ++i) *req.add_events() = MakeEvent("v0", "i" + std::to_string(i), 2000 + i);
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), req, &ing).ok());
  SyntheticModel model;
  model.dim = kDim;
  model.num_users = 2;
  model.num_items = kItems;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  model.users.resize(2 * kDim);
  model.items.resize(static_cast<size_t>(kItems) * kDim);
  for (auto& x : model.users) x = normal(rng);
  for (auto& x : model.items) x = normal(rng);
  // The view prompt's gamma per user, as the model exports it: u0 (0.7, 0.3), v0 (0.4, 0.6).
  model.views = 2;
  model.user_view_weights = {0.7f, 0.3f, 0.4f, 0.6f};
  REQUIRE(gpt4rec::server::test_support::InstallModel(*server, model, 3).ok());
  auto item_row = [&](const std::string& id) { return model.items.data() + std::stoi(id.substr(1)) * kDim; };

  SECTION("model: contributions, view scores and view weights") {
    v1::RecommendReply plain, rep;
    REQUIRE(Explained(stub.get(), "v0", 20, &plain, false).ok());  // another user's reply first: no crosstalk
    REQUIRE(Explained(stub.get(), "u0", 20, &plain, false).ok());
    REQUIRE(Explained(stub.get(), "u0", 20, &rep).ok());
    REQUIRE(rep.source() == v1::MODEL);
    REQUIRE(rep.items_size() == 20);
    CheckSameReply(plain, rep);
    const auto& e = rep.explanation();
    CHECK(e.built_from().rfind("model: the user's trained representation (model version 3", 0) == 0);
    CHECK(e.fold_in_item_ids_size() == 0);
    const float* z_u = model.users.data();  // u0
    // view_weights is the exported gamma_u itself (not |z_u^(k)|^2 / |z_u|^2, the stand-in before it existed).
    REQUIRE(e.view_weights_size() == 2);
    CHECK(e.view_weights(0) == 0.7f);
    CHECK(e.view_weights(1) == 0.3f);
    CHECK(e.view_weights_source() == v1::Explanation::VIEW_WEIGHTS_GAMMA);
    {
      v1::RecommendReply other;
      REQUIRE(Explained(stub.get(), "v0", 5, &other).ok());
      REQUIRE(other.explanation().view_weights_size() == 2);
      CHECK(other.explanation().view_weights(0) == 0.4f);
      CHECK(other.explanation().view_weights(1) == 0.6f);
    }
    // The 200 most recent seen items: i60..i259 (timestamps ascend with the index).
    std::set<std::string> recent;
    for (int i = kSeen - 200; i < kSeen; ++i) recent.insert("i" + std::to_string(i));
    CheckShares(rep, recent);
    int checked = 0;
    for (int i = 0; i < rep.items_size(); ++i) {
      const auto& item = e.items(i);
      const float* z_i = item_row(item.item_id());
      REQUIRE(item.view_scores_size() == 2);
      CHECK(item.view_scores(0) == Approx(Dot(z_u, z_i, 4)).margin(1e-4));
      CHECK(item.view_scores(1) == Approx(Dot(z_u + 4, z_i + 4, 4)).margin(1e-4));
      CHECK(item.view_scores(0) + item.view_scores(1) == Approx(rep.items(i).score()).margin(1e-4));
      // c_j = max(0, z_j . z_i) over the recent seen items; share = c_j / sum c.
      std::vector<std::pair<float, std::string>> c;
      double total = 0;
      for (const auto& j : recent) {
        const float v = Dot(item_row(j), z_i, kDim);
        if (v > 0) {
          c.emplace_back(v, j);
          total += v;
        }
      }
      std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      REQUIRE(item.because_of_size() == std::min<int>(3, static_cast<int>(c.size())));
      for (int t = 0; t < item.because_of_size(); ++t) {
        CHECK(item.because_of(t).item_id() == c[t].second);
        CHECK(item.because_of(t).share() == Approx(c[t].first / total).epsilon(1e-4));
        ++checked;
      }
    }
    CHECK(checked == 60);  // random rows: every item has at least 3 positive contributors among 200
  }

  SECTION("fold-in: what the query was built from") {
    v1::IngestRequest more;
    *more.add_events() = MakeEvent("newcomer", "i270", 5000);
    *more.add_events() = MakeEvent("newcomer", "i5", 5001);
    REQUIRE(Ingest(stub.get(), more, &ing).ok());
    v1::RecommendReply plain, rep;
    REQUIRE(Explained(stub.get(), "newcomer", 10, &plain, false).ok());
    REQUIRE(Explained(stub.get(), "newcomer", 10, &rep).ok());
    REQUIRE(rep.source() == v1::FOLD_IN);
    CheckSameReply(plain, rep);
    const auto& e = rep.explanation();
    CHECK(e.built_from().rfind("fold_in: the mean of the trained representations of 2 items", 0) == 0);
    CHECK(e.fold_in_item_count() == 2);
    REQUIRE(e.fold_in_item_ids_size() == 2);
    CHECK(e.fold_in_item_ids(0) == "i5");  // most recent first
    CHECK(e.fold_in_item_ids(1) == "i270");
    // No trained row, so no gamma: 1/K, said so.
    REQUIRE(e.view_weights_size() == 2);
    CHECK(e.view_weights(0) == 0.5f);
    CHECK(e.view_weights(1) == 0.5f);
    CHECK(e.view_weights_source() == v1::Explanation::VIEW_WEIGHTS_UNIFORM);
    CheckShares(rep, {"i5", "i270"});
    for (int i = 0; i < rep.items_size(); ++i) {
      // z_u is the mean of the two rows, so the score is the mean of their similarities.
      const float* z_i = item_row(rep.items(i).item_id());
      CHECK(rep.items(i).score() ==
            Approx((Dot(item_row("i5"), z_i, kDim) + Dot(item_row("i270"), z_i, kDim)) / 2).margin(1e-4));
    }
  }

  SECTION("popular: the window it counted, nothing per item") {
    v1::RecommendReply rep;
    REQUIRE(WaitUntil([&] { return Explained(stub.get(), "nobody", 5, &rep).ok() && rep.items_size() == 5; }));
    REQUIRE(rep.source() == v1::POPULAR);
    const auto& e = rep.explanation();
    CHECK(e.built_from().rfind("popular (unknown user): the most frequent items of events 1..300", 0) == 0);
    CHECK(e.popular_first_sequence() == 1);
    CHECK(e.popular_last_sequence() == 300);
    REQUIRE(e.items_size() == 5);
    for (const auto& item : e.items()) {
      CHECK(item.because_of_size() == 0);
      CHECK(item.view_scores_size() == 0);
    }
    CHECK(e.view_weights_size() == 0);
    CHECK(e.view_weights_source() == v1::Explanation::VIEW_WEIGHTS_NONE);
  }

  SECTION("a model without view weights (as a format 1 serving file): uniform, said so") {
    model.views = 0;
    model.user_view_weights.clear();
    REQUIRE(gpt4rec::server::test_support::InstallModel(*server, model, 4).ok());
    v1::RecommendReply rep;
    REQUIRE(Explained(stub.get(), "u0", 5, &rep).ok());
    REQUIRE(rep.model_version() == 4);
    REQUIRE(rep.source() == v1::MODEL);
    const auto& e = rep.explanation();
    REQUIRE(e.view_weights_size() == 2);
    CHECK(e.view_weights(0) == 0.5f);
    CHECK(e.view_weights(1) == 0.5f);
    CHECK(e.view_weights_source() == v1::Explanation::VIEW_WEIGHTS_UNIFORM);
    REQUIRE(e.items(0).view_scores_size() == 2);  // the view scores do not need gamma
  }

  SECTION("bad input still names the field") {
    v1::RecommendReply rep;
    grpc::Status s = Explained(stub.get(), "", 5, &rep);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().rfind("user_id: empty", 0) == 0);
    s = Explained(stub.get(), "u0", options.max_k + 1, &rep);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().rfind("k:", 0) == 0);
  }
}

TEST_CASE("explain on a trained model: sorted shares of seen items, the same reply as without") {
  TempDir dir("server-explain-trained");
  auto options = SmallServerOptions(dir / "data");
  // The view prompt trains in segment 0 already (the design page's form), fast, so gamma is not uniform.
  options.model.prompts_in_segment0 = true;
  options.model.gate_lr = 0.05f;
  auto server = StartServer(options);
  auto stub = Connect(server->port());
  const auto data = CommunityEvents(30, 20, 8, 1000);
  v1::IngestReply ing;
  REQUIRE(Ingest(stub.get(), data, &ing).ok());
  v1::CloseSegmentReply close;
  REQUIRE(CloseSegment(stub.get(), &close).ok());
  REQUIRE(gpt4rec::server::test_support::WaitForTrainingIdle(*server, 120000));
  REQUIRE(Stats(stub.get()).model_version() == 1);

  std::map<std::string, std::set<std::string>> seen;
  std::map<std::string, int> dense;  // storage dense ids follow first appearance
  for (const auto& e : data.events()) {
    seen[e.user_id()].insert(e.item_id());
    dense.emplace(e.user_id(), static_cast<int>(dense.size()));
  }
  // The serving file carries the model's gamma table, the same as the checkpoint's model exports.
  auto file = gpt4rec::server::ReadServingFile(dir / "data/model/serving.bin");
  REQUIRE(file.ok());
  REQUIRE(file->views == 2);
  REQUIRE(file->user_view_weights.size() == static_cast<size_t>(file->num_users) * 2);
  {
    auto model = gpt4rec::model::RecommenderModel::Load(dir / "data/model/model.ckpt");
    REQUIRE(model.ok());
    auto emb = (*model)->ExportEmbeddings();
    REQUIRE(emb.ok());
    REQUIRE(emb->user_view_weights == file->user_view_weights);
  }
  double off_uniform = 0;
  int contributions = 0;
  for (const std::string user : {"a0", "a7", "b3", "b11", "b29"}) {
    v1::RecommendReply plain, rep;
    REQUIRE(Explained(stub.get(), user, 10, &plain, false).ok());
    REQUIRE(Explained(stub.get(), user, 10, &rep).ok());
    REQUIRE(rep.source() == v1::MODEL);
    CheckSameReply(plain, rep);
    CheckShares(rep, seen[user]);
    REQUIRE(rep.explanation().view_weights_size() == 2);
    CHECK(rep.explanation().view_weights(0) + rep.explanation().view_weights(1) == Approx(1.0f).epsilon(1e-5));
    CHECK(rep.explanation().view_weights_source() == v1::Explanation::VIEW_WEIGHTS_GAMMA);
    const float* gamma = file->user_view_weights.data() + 2 * dense.at(user);
    CHECK(rep.explanation().view_weights(0) == gamma[0]);
    CHECK(rep.explanation().view_weights(1) == gamma[1]);
    off_uniform = std::max(off_uniform, std::abs(static_cast<double>(gamma[0]) - 0.5));
    for (int i = 0; i < rep.items_size(); ++i) {
      const auto& item = rep.explanation().items(i);
      float sum = 0;
      for (float v : item.view_scores()) sum += v;
      CHECK(sum == Approx(rep.items(i).score()).margin(1e-4));
      contributions += item.because_of_size();
    }
  }
  CHECK(contributions > 0);  // a trained two-community model: an own-side item resembles the user's items
  CHECK(off_uniform > 1e-4);  // the trained view prompt: not 1/K

  // Restarted on a serving file without the table (format 1's content): it still loads, gamma reported uniform.
  server.reset();
  file->views = 0;
  file->user_view_weights.clear();
  REQUIRE(gpt4rec::server::WriteServingFile(dir / "data/model/serving.bin", *file).ok());
  server = StartServer(options);
  stub = Connect(server->port());
  v1::RecommendReply rep;
  REQUIRE(Explained(stub.get(), "a0", 10, &rep).ok());
  REQUIRE(rep.source() == v1::MODEL);
  REQUIRE(rep.explanation().view_weights_size() == 2);
  CHECK(rep.explanation().view_weights(0) == 0.5f);
  CHECK(rep.explanation().view_weights_source() == v1::Explanation::VIEW_WEIGHTS_UNIFORM);
}

TEST_CASE("serving file: round trip with and without the view weights; format 1 files still load") {
  TempDir dir("server-serving-file");
  gpt4rec::server::ServingFile f;
  f.version = 7;
  f.trained_segment = 3;
  f.dim = 4;
  f.num_users = 2;
  f.num_items = 3;
  for (int i = 0; i < 8; ++i) f.users.push_back(0.5f * i);
  for (int i = 0; i < 12; ++i) f.items.push_back(-0.25f * i);
  f.views = 2;
  f.user_view_weights = {0.1f, 0.9f, 0.6f, 0.4f};
  const std::string path = dir / "serving.bin";
  auto same = [&](const gpt4rec::server::ServingFile& a, const gpt4rec::server::ServingFile& b) {
    CHECK(a.version == b.version);
    CHECK(a.trained_segment == b.trained_segment);
    CHECK(a.dim == b.dim);
    CHECK(a.num_users == b.num_users);
    CHECK(a.num_items == b.num_items);
    CHECK(a.users == b.users);
    CHECK(a.items == b.items);
    CHECK(a.views == b.views);
    CHECK(a.user_view_weights == b.user_view_weights);
  };
  SECTION("with the table") {
    REQUIRE(gpt4rec::server::WriteServingFile(path, f).ok());
    auto back = gpt4rec::server::ReadServingFile(path);
    REQUIRE(back.ok());
    same(*back, f);
  }
  SECTION("without the table") {
    f.views = 0;
    f.user_view_weights.clear();
    REQUIRE(gpt4rec::server::WriteServingFile(path, f).ok());
    auto back = gpt4rec::server::ReadServingFile(path);
    REQUIRE(back.ok());
    same(*back, f);
  }
  SECTION("a format 1 file, as servers before the table wrote it") {
    std::string bytes("G4RSERV1", 8);
    auto put = [&](const auto& v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(f.version);
    put(f.trained_segment);
    put(f.dim);
    put(f.num_users);
    put(f.num_items);
    put(int32_t{0});
    for (float x : f.users) put(x);
    for (float x : f.items) put(x);
    { std::ofstream(path, std::ios::binary) << bytes; }
    auto back = gpt4rec::server::ReadServingFile(path);
    REQUIRE(back.ok());
    f.views = 0;
    f.user_view_weights.clear();
    same(*back, f);
  }
  SECTION("sizes that disagree are refused; a truncated table is DATA_LOSS") {
    auto bad = f;
    bad.user_view_weights.pop_back();
    CHECK(gpt4rec::server::WriteServingFile(path, bad).code() == absl::StatusCode::kInternal);
    REQUIRE(gpt4rec::server::WriteServingFile(path, f).ok());
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    { std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 4); }
    CHECK(gpt4rec::server::ReadServingFile(path).status().code() == absl::StatusCode::kDataLoss);
    { std::ofstream(path, std::ios::binary) << bytes << "x"; }
    CHECK(gpt4rec::server::ReadServingFile(path).status().code() == absl::StatusCode::kDataLoss);
  }
}
