#include "storage/rocks_logger.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace gpt4rec::storage {
namespace {

class TolerantLogger final : public rocksdb::Logger {
 public:
  explicit TolerantLogger(int fd) : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), fd_(fd) {}
  ~TolerantLogger() override {
    if (fd_ >= 0) close(fd_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (fd_ < 0) return;
    char line[4096];
    timeval now;
    gettimeofday(&now, nullptr);
    tm t;
    localtime_r(&now.tv_sec, &t);
    int n = std::snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ", t.tm_year + 1900, t.tm_mon + 1,
                          t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<long>(now.tv_usec));
    va_list copy;
    va_copy(copy, ap);
    const int m = std::vsnprintf(line + n, sizeof line - n - 1, format, copy);
    va_end(copy);
    if (m < 0) return;
    n = std::min<int>(n + m, sizeof line - 2);
    if (line[n - 1] != '\n') line[n++] = '\n';
    // A failed or short write (ENOSPC) loses this line and nothing else.
    if (write(fd_, line, n) < 0) return;
  }

 private:
  const int fd_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> OpenTolerantLogger(const std::string& dir) {
  const std::string path = dir + "/LOG";
  rename(path.c_str(), (path + ".old").c_str());  // absent on a fresh store: nothing to keep
  return std::make_shared<TolerantLogger>(open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644));
}

}  // namespace gpt4rec::storage
