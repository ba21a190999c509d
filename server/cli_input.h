// Reads interaction files for `gpt4rec-cli ingest`: CSV with a header (user,item,timestamp[,type,weight]; also
// user_id/item_id/time/event_type) or a RecBole atomic .inter file (tab-separated, "user_id:token ..." header).
// Streams one event at a time so files of any size fit in constant memory.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"

namespace gpt4rec::server {

struct InputEvent {
  std::string user_id;
  std::string item_id;
  int64_t timestamp = 0;
  int32_t event_type = 0;
  float weight = 0;  // 0: the server's default (1.0)
  uint64_t line = 0;
};

class EventFileReader {
 public:
  // Opens `path` and parses its header. Errors name the file.
  static absl::StatusOr<std::unique_ptr<EventFileReader>> Open(const std::string& path);

  // false at end of file; a malformed line is an error naming "file:line: field: reason".
  absl::StatusOr<bool> Next(InputEvent* event);

  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  EventFileReader() = default;
  std::string path_;
  std::ifstream in_;
  char sep_ = ',';
  int user_col_ = -1, item_col_ = -1, time_col_ = -1, type_col_ = -1, weight_col_ = -1;
  uint64_t line_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t file_bytes_ = 0;
};

}  // namespace gpt4rec::server
