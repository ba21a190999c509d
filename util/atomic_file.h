// util/ — replacing a file atomically and durably: write a temp file next to it, fsync it, rename it over the
// target, fsync the directory. A reader (or a restart after a crash) sees the old file or the new one, never a
// half-written one, and once this returns OK the new file survives a power loss. Header-only (POSIX).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace gpt4rec::util {

namespace atomic_file_internal {

inline absl::Status Fail(const std::string& what, const std::string& path, int err) {
  return absl::InternalError(what + " " + path + ": " + std::strerror(err));
}

// fsync of a file or directory opened read-only (fsync applies to the inode, not to the descriptor's mode).
inline absl::Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), O_RDONLY | flags);
  if (fd < 0) return Fail("cannot open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Fail("fsync of", path, err);
}

}  // namespace atomic_file_internal

// Replaces `path` with what `write` puts into the stream (binary). The temp file is `path` + ".tmp"; it is
// removed on failure.
inline absl::Status WriteFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  namespace internal = atomic_file_internal;
  const std::string tmp = path + ".tmp";
  auto fail = [&](absl::Status s) {
    std::remove(tmp.c_str());
    return s;
  };
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return internal::Fail("cannot create", tmp, errno);
    write(out);
    out.flush();
    if (!out) return fail(absl::InternalError("write to " + tmp + " failed"));
  }
  if (absl::Status s = internal::SyncPath(tmp, 0); !s.ok()) return fail(s);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail(internal::Fail("rename to", path, errno));
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return internal::SyncPath(dir, O_DIRECTORY);
}

inline absl::Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  return WriteFileAtomically(path, [&](std::ostream& out) { out.write(contents.data(), contents.size()); });
}

}  // namespace gpt4rec::util
