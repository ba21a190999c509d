// Private to eval/: streams a text file line by line through one reusable buffer (raw files run to gigabytes, so
// no whole-file strings), and formats parse errors as "file:line: reason".
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace gpt4rec::eval::internal {

class LineReader {
 public:
  LineReader() = default;
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  absl::Status Open(const std::string& path);
  // Next line without its "\n" / "\r\n"; false at end of file. The view lives until the next call.
  bool Next(std::string_view* line);
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }
  absl::Status Error(const std::string& reason) const;  // INVALID_ARGUMENT "path:line: reason"

 private:
  std::FILE* file_ = nullptr;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t line_number_ = 0;
  std::string path_;
};

// Splits on one delimiter character, keeping empty fields; ' ' means any run of spaces/tabs.
void SplitFields(std::string_view line, char delimiter, std::vector<std::string_view>* fields);
bool ParseInt64(std::string_view text, int64_t* out);
bool ParseDouble(std::string_view text, double* out);

}  // namespace gpt4rec::eval::internal
