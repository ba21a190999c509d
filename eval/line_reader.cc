#include "eval/line_reader.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace gpt4rec::eval::internal {

LineReader::~LineReader() {
  if (file_ != nullptr) std::fclose(file_);
  std::free(buffer_);  // getline(3) allocates with malloc
}

absl::Status LineReader::Open(const std::string& path) {
  if (file_ != nullptr) std::fclose(file_);
  path_ = path;
  line_number_ = 0;
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) return absl::NotFoundError(path + ": cannot open: " + std::strerror(errno));
  return absl::OkStatus();
}

bool LineReader::Next(std::string_view* line) {
  if (file_ == nullptr) return false;
  ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) return false;
  ++line_number_;
  while (n > 0 && (buffer_[n - 1] == '\n' || buffer_[n - 1] == '\r')) --n;
  *line = std::string_view(buffer_, static_cast<size_t>(n));
  return true;
}

absl::Status LineReader::Error(const std::string& reason) const {
  return absl::InvalidArgumentError(path_ + ":" + std::to_string(line_number_) + ": " + reason);
}

void SplitFields(std::string_view line, char delimiter, std::vector<std::string_view>* fields) {
  fields->clear();
  if (delimiter == ' ') {
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i >= line.size()) break;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      fields->push_back(line.substr(i, j - i));
      i = j;
    }
    return;
  }
  size_t start = 0;
  while (true) {
    size_t pos = line.find(delimiter, start);
    if (pos == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return;
    }
    fields->push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

bool ParseInt64(std::string_view text, int64_t* out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool ParseDouble(std::string_view text, double* out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty() || text.size() > 64) return false;
  char tmp[65];
  std::memcpy(tmp, text.data(), text.size());
  tmp[text.size()] = '\0';
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(tmp, &end);
  if (end != tmp + text.size() || errno == ERANGE) return false;
  *out = v;
  return true;
}

}  // namespace gpt4rec::eval::internal
