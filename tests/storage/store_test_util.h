// Helpers shared by the storage tests: open a real store, build events, read everything back, scan files.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/graph_store.h"

// Field-wise equality for test assertions (in the types' namespace so that ADL finds them).
namespace gpt4rec::storage {
inline bool operator==(const EdgeInfo& a, const EdgeInfo& b) {
  return a.other == b.other && a.first_time == b.first_time && a.last_time == b.last_time && a.count == b.count &&
         a.last_type == b.last_type && a.last_weight == b.last_weight && a.first_segment == b.first_segment;
}
inline bool operator==(const StoredEvent& a, const StoredEvent& b) {
  return a.sequence == b.sequence && a.user == b.user && a.item == b.item && a.timestamp == b.timestamp &&
         a.event_type == b.event_type && a.weight == b.weight && a.segment == b.segment;
}
inline bool operator==(const SegmentInfo& a, const SegmentInfo& b) {
  return a.index == b.index && a.closed == b.closed && a.first_sequence == b.first_sequence &&
         a.end_sequence == b.end_sequence && a.min_time == b.min_time && a.max_time == b.max_time &&
         a.events == b.events;
}
inline bool operator==(const EdgePair& a, const EdgePair& b) { return a.user == b.user && a.item == b.item; }

}  // namespace gpt4rec::storage

namespace gpt4rec::storage::testing {

inline std::unique_ptr<GraphStore> OpenStore(const std::string& dir, SegmentPolicy policy = {},
                                             bool background_edge_files = true) {
  StoreOptions options;
  options.segments = policy;
  options.background_edge_files = background_edge_files;
  auto store = GraphStore::Open(dir, options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

inline Event Ev(const std::string& user, const std::string& item, int64_t t, int32_t type = 0, float weight = 1.0f,
                const std::string& event_id = "") {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.timestamp = t;
  e.event_type = type;
  e.weight = weight;
  e.event_id = event_id;
  return e;
}

inline AppendResult Append(GraphStore& store, const std::vector<Event>& events) {
  auto r = store.AppendBatch(events);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

inline std::vector<StoredEvent> AllEvents(const GraphStore& store) {
  std::vector<StoredEvent> out;
  REQUIRE(store.ScanEvents(0, UINT64_MAX, [&](const StoredEvent& e) {
    out.push_back(e);
    return true;
  }).ok());
  return out;
}

// True when `needle` occurs in the bytes of any regular file under `dir`.
inline bool AnyFileContains(const std::filesystem::path& dir, const std::string& needle,
                            std::string* where = nullptr) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) {
      if (where) *where = entry.path().filename().string();
      return true;
    }
  }
  return false;
}

// Everything observable through the public API, for "identical store" comparisons.
inline void RequireSameStore(const GraphStore& a, const GraphStore& b) {
  REQUIRE(a.UserIdSpace() == b.UserIdSpace());
  REQUIRE(a.ItemIdSpace() == b.ItemIdSpace());
  const Counts ca = a.GetCounts(), cb = b.GetCounts();
  REQUIRE(ca.users == cb.users);
  REQUIRE(ca.items == cb.items);
  REQUIRE(ca.edges == cb.edges);
  REQUIRE(ca.events == cb.events);
  for (uint32_t u = 0; u < a.UserIdSpace(); ++u) {
    auto na = a.UserName(u), nb = b.UserName(u);
    REQUIRE(na.ok() == nb.ok());
    if (na.ok()) REQUIRE(*na == *nb);
    REQUIRE(a.UserItems(u) == b.UserItems(u));
  }
  for (uint32_t i = 0; i < a.ItemIdSpace(); ++i) {
    REQUIRE(*a.ItemName(i) == *b.ItemName(i));
    REQUIRE(a.ItemUsers(i) == b.ItemUsers(i));
  }
  REQUIRE(a.ClosedSegments() == b.ClosedSegments());
  REQUIRE(a.OpenSegment() == b.OpenSegment());
  REQUIRE(AllEvents(a) == AllEvents(b));
  for (uint32_t s = 0; s <= a.OpenSegment().index; ++s) {
    auto csr_a = a.AccumulatedCsr(s), csr_b = b.AccumulatedCsr(s);
    REQUIRE(csr_a.ok());
    REQUIRE(csr_b.ok());
    REQUIRE(csr_a->indptr == csr_b->indptr);
    REQUIRE(csr_a->indices == csr_b->indices);
  }
}

}  // namespace gpt4rec::storage::testing
