// The mirror image (storage/mirror_image.h): a store opened from it equals the same store opened by scanning
// its column families; a damaged, foreign or stale image is not used; a deleted user never comes back from one;
// a failed image write fails nothing.
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "storage/mirror_image.h"
#include "storage/rocks_graph_store.h"
#include "tests/common/temp_dir.h"
#include "tests/storage/store_test_util.h"

using namespace gpt4rec::storage;
using namespace gpt4rec::storage::testing;
using gpt4rec::testing::TempDir;
namespace fs = std::filesystem;

namespace {

RocksGraphStore::ImageInfo Info(const GraphStore& store) {
  const auto* rocks = dynamic_cast<const RocksGraphStore*>(&store);
  REQUIRE(rocks != nullptr);
  return rocks->GetImageInfo();
}

// Random batches over ~100k distinct edges (more than the 64k pending limit: edge files mid-stream), a segment
// closed every 40 batches; `counts` keeps the naive per-edge event counts by external ids.
struct Workload {
  std::mt19937 rng{11};
  std::map<std::pair<std::string, std::string>, uint32_t> counts;
  int64_t t = 1000;
  void Append(GraphStore& store, int batches, const std::string& prefix = "u") {
    for (int b = 0; b < batches; ++b) {
      std::vector<Event> batch;
      for (int j = 0; j < 1000; ++j) {
        const std::string u = prefix + std::to_string(rng() % 3000), i = "i" + std::to_string(rng() % 400);
        batch.push_back(Ev(u, i, t, static_cast<int32_t>(rng() % 3)));
        ++counts[{u, i}];
      }
      ++t;
      testing::Append(store, batch);
      if (b % 40 == 39) REQUIRE(store.CloseSegment().ok());
    }
  }
  void RequireCounts(const GraphStore& store) const {
    uint64_t edges = 0;
    for (uint32_t u = 0; u < store.UserIdSpace(); ++u)
      for (const EdgeInfo& e : store.UserItems(u)) {
        REQUIRE(e.count == counts.at({*store.UserName(u), *store.ItemName(e.other)}));
        ++edges;
      }
    REQUIRE(edges == counts.size());
  }
};

// RequireSameStore plus what it leaves out: last segments (memory-only lists and the CSR), degrees, id lookups.
void RequireSameMirror(const GraphStore& a, const GraphStore& b) {
  RequireSameStore(a, b);
  auto same = [](const std::vector<EdgeInfo>& x, const std::vector<EdgeInfo>& y) {
    REQUIRE(x.size() == y.size());
    for (size_t k = 0; k < x.size(); ++k)
      REQUIRE((x[k].other == y[k].other && x[k].first_segment == y[k].first_segment &&
               x[k].last_segment == y[k].last_segment));
  };
  for (uint32_t u = 0; u < a.UserIdSpace(); ++u) {
    same(a.UserItemSegments(u), b.UserItemSegments(u));
    REQUIRE(a.UserDegree(u) == b.UserDegree(u));
    if (auto name = a.UserName(u); name.ok()) REQUIRE(b.FindUser(*name) == std::optional<uint32_t>(u));
  }
  for (uint32_t i = 0; i < a.ItemIdSpace(); ++i) {
    same(a.ItemUserSegments(i), b.ItemUserSegments(i));
    REQUIRE(a.ItemDegree(i) == b.ItemDegree(i));
    REQUIRE(b.FindItem(*a.ItemName(i)) == std::optional<uint32_t>(i));
  }
  const uint32_t open = a.OpenSegment().index;
  auto ca = a.AccumulatedCsr(open), cb = b.AccumulatedCsr(open);
  REQUIRE((ca.ok() && cb.ok()));
  REQUIRE(ca->last_segment == cb->last_segment);
}

// A closed store's directory copied, with or without its image (the copy is the scan reference).
void CopyStore(const fs::path& from, const fs::path& to, bool with_image) {
  fs::copy(from, to, fs::copy_options::recursive);
  if (!with_image) fs::remove(to / MirrorImage::kFileName);
}

void FlipByte(const fs::path& file, uint64_t at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&c, 1);
}

}  // namespace

TEST_CASE("a flushed store reopens from its mirror image, equal to the scan of its column families, with the "
          "event-log tail replayed after it", "[storage][image]") {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  Workload w;
  {
    auto store = OpenStore(dir);
    REQUIRE_FALSE(Info(*store).loaded);  // a new store has none
    w.Append(*store, 120);
    REQUIRE(store->DeleteUser("u7").ok());  // a removed slot and a zeroed name in the image
    w.counts.erase(w.counts.lower_bound({"u7", ""}), w.counts.lower_bound({"u7\x01", ""}));
    REQUIRE(store->Flush().ok());
    REQUIRE(Info(*store).images_written >= 1);
    REQUIRE(fs::exists(dir / MirrorImage::kFileName));
  }
  CopyStore(dir, tmp / "scan1", /*with_image=*/false);
  {
    auto from_image = OpenStore(dir);
    const auto info = Info(*from_image);
    INFO(info.not_loaded_why);
    REQUIRE(info.loaded);
    REQUIRE(info.replayed == 0);
    auto scanned = OpenStore(tmp / "scan1");
    REQUIRE_FALSE(Info(*scanned).loaded);
    RequireSameMirror(*from_image, *scanned);
    w.RequireCounts(*from_image);
    REQUIRE_FALSE(from_image->FindUser("u7"));
    // Appends after the image, past more edge files, then a close without Flush (as a crash leaves it).
    w.Append(*from_image, 90);
    REQUIRE(from_image->Checkpoint(tmp / "checkpoint").ok());
  }
  CopyStore(dir, tmp / "scan2", /*with_image=*/false);
  auto store = OpenStore(dir);
  const auto info = Info(*store);
  INFO(info.not_loaded_why);
  REQUIRE(info.loaded);
  REQUIRE(info.replayed > 0);  // the 90 batches (less those an image written at an edge file holds)
  w.RequireCounts(*store);
  auto scanned = OpenStore(tmp / "scan2");
  RequireSameMirror(*store, *scanned);
  // The checkpoint carries the image (a link) and opens from it.
  auto checkpoint = OpenStore(tmp / "checkpoint");
  REQUIRE(Info(*checkpoint).loaded);
  RequireSameMirror(*store, *checkpoint);
}

TEST_CASE("a damaged, foreign or stale mirror image is not used: Open scans, the store is the same, the image "
          "is removed", "[storage][image]") {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  Workload w;
  {
    auto store = OpenStore(dir);
    w.Append(*store, 60);
    REQUIRE(store->Flush().ok());
  }
  CopyStore(dir, tmp / "earlier", /*with_image=*/true);  // the store before the appends below
  {
    auto store = OpenStore(dir);
    w.Append(*store, 20);
    REQUIRE(store->Flush().ok());
  }
  CopyStore(dir, tmp / "scan", /*with_image=*/false);
  // Another store with the same shape (same number of batches and ids) but other events.
  Workload other;
  other.rng.seed(99);
  {
    auto store = OpenStore(tmp / "foreign");
    other.Append(*store, 80);
    REQUIRE(store->Flush().ok());
  }
  const uint64_t image_size = fs::file_size(dir / MirrorImage::kFileName);

  struct Case {
    std::string name;
    std::function<void(const fs::path&)> damage;
    std::string why;  // a word of the reason
  };
  const std::vector<Case> cases = {
      {"a flipped body byte", [&](const fs::path& d) { FlipByte(d / MirrorImage::kFileName, image_size / 2); },
       "body checksum"},
      {"a flipped header byte", [&](const fs::path& d) { FlipByte(d / MirrorImage::kFileName, 20); }, "header"},
      {"truncated",
       [&](const fs::path& d) { fs::resize_file(d / MirrorImage::kFileName, image_size - 100); }, "truncated"},
      {"another store's image",
       [&](const fs::path& d) {
         fs::copy_file(fs::path(tmp / "foreign") / MirrorImage::kFileName, d / MirrorImage::kFileName,
                       fs::copy_options::overwrite_existing);
       },
       "mirror image"},  // its ids, its sequence or the log before it differ
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const fs::path d = tmp / ("case-" + std::to_string(&c - cases.data()));
      CopyStore(dir, d, /*with_image=*/true);
      c.damage(d);
      {
        auto store = OpenStore(d);
        const auto info = Info(*store);
        INFO(info.not_loaded_why);
        REQUIRE_FALSE(info.loaded);
        REQUIRE(info.not_loaded_why.find(c.why) != std::string::npos);
        auto scanned = OpenStore(tmp / "scan");
        RequireSameMirror(*store, *scanned);
        w.RequireCounts(*store);
      }
      REQUIRE_FALSE(fs::exists(d / MirrorImage::kFileName));
    }
  }
  SECTION("an image past the store's end (a newer image beside an older store)") {
    fs::copy_file(dir / MirrorImage::kFileName, fs::path(tmp / "earlier") / MirrorImage::kFileName,
                  fs::copy_options::overwrite_existing);
    auto store = OpenStore(tmp / "earlier");
    const auto info = Info(*store);
    REQUIRE_FALSE(info.loaded);
    REQUIRE(info.not_loaded_why.find("ends at") != std::string::npos);
    REQUIRE(store->GetCounts().events == 60000);
  }
}

TEST_CASE("a deleted user does not come back from a mirror image", "[storage][image][delete]") {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  Workload w;
  {
    auto store = OpenStore(dir);
    // The victim's events are all in the first batch, so the log's last record before the image's sequence is
    // the same before and after the delete: only the event count tells the old image apart.
    Append(*store, {Ev("victim-user-x", "i1", 10), Ev("victim-user-x", "i2", 11), Ev("u1", "i1", 12)});
    w.Append(*store, 30);
    REQUIRE(store->Flush().ok());
    fs::copy_file(dir / MirrorImage::kFileName, tmp / "old.image");
    REQUIRE(AnyFileContains(dir, "victim-user-x"));  // the image holds the name (control)
    auto deleted = store->DeleteUser("victim-user-x");
    REQUIRE(deleted.ok());
    REQUIRE(deleted->deleted);
    // Rewritten without the user: no file of the directory, image included, holds the name.
    REQUIRE(fs::exists(dir / MirrorImage::kFileName));
    std::string where;
    REQUIRE_FALSE(AnyFileContains(dir, "victim-user-x", &where));
  }
  CopyStore(dir, tmp / "scan", /*with_image=*/false);
  {
    auto store = OpenStore(dir);
    REQUIRE(Info(*store).loaded);
    REQUIRE_FALSE(store->FindUser("victim-user-x"));
    auto scanned = OpenStore(tmp / "scan");
    RequireSameMirror(*store, *scanned);
  }
  // The image from before the delete put back (as a binary from before images would have left it).
  fs::copy_file(tmp / "old.image", dir / MirrorImage::kFileName, fs::copy_options::overwrite_existing);
  auto store = OpenStore(dir);
  const auto info = Info(*store);
  REQUIRE_FALSE(info.loaded);
  REQUIRE(info.not_loaded_why.find("delete") != std::string::npos);
  REQUIRE_FALSE(store->FindUser("victim-user-x"));
  auto scanned = OpenStore(tmp / "scan");
  RequireSameMirror(*store, *scanned);
}

TEST_CASE("a mirror image that cannot be written fails nothing and leaves the old image", "[storage][image]") {
  TempDir tmp;
  const fs::path dir = tmp / "db";
  Workload w;
  {
    auto store = OpenStore(dir);
    w.Append(*store, 10);
    REQUIRE(store->Flush().ok());
    const auto first = fs::last_write_time(dir / MirrorImage::kFileName);
    // The temp file's name taken by a directory: creating it fails (as a full or failing disk would).
    fs::create_directory(dir / MirrorImage::kTempName);
    w.Append(*store, 10);
    REQUIRE(store->Flush().ok());
    REQUIRE(Info(*store).image_failures >= 1);
    REQUIRE(fs::last_write_time(dir / MirrorImage::kFileName) == first);
    w.Append(*store, 5);  // writes go on
  }
  fs::remove(dir / MirrorImage::kTempName);
  auto store = OpenStore(dir);
  const auto info = Info(*store);
  REQUIRE(info.loaded);  // the old image, with everything after it replayed
  REQUIRE(info.replayed == 15000);
  w.RequireCounts(*store);
}
