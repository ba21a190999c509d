// A small tmpfs mounted for one test (disk-full scenarios), and a filler file that takes its free space.
// Mounting needs root (CI runs as root); where the kernel refuses, Mount() says why and the caller skips.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

namespace gpt4rec::testing {

class TmpfsMount {
 public:
  // nullptr when mounting is refused; `*why` then names the reason (e.g. "Operation not permitted").
  static std::unique_ptr<TmpfsMount> Mount(uint64_t size_bytes, std::string* why) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpt4rec-tmpfs-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      *why = std::string("mkdtemp: ") + std::strerror(errno);
      return nullptr;
    }
    const std::string opts = "size=" + std::to_string(size_bytes);
    if (mount("tmpfs", tmpl.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      *why = std::string("mount -t tmpfs: ") + std::strerror(errno);
      rmdir(tmpl.c_str());
      return nullptr;
    }
    return std::unique_ptr<TmpfsMount>(new TmpfsMount(tmpl));
  }
  ~TmpfsMount() {
    umount2(path_.c_str(), MNT_DETACH);
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

  uint64_t FreeBytes() const {
    struct statvfs fs;
    if (statvfs(path_.c_str(), &fs) != 0) return 0;
    return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  // Allocates a filler file so that about `leave_bytes` stay free; false if it could not.
  bool FillLeaving(uint64_t leave_bytes) {
    const uint64_t free = FreeBytes();
    if (free <= leave_bytes) return true;
    const int fd = open(filler().c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) return false;
    struct stat st;
    fstat(fd, &st);
    const bool ok = posix_fallocate(fd, 0, st.st_size + static_cast<off_t>(free - leave_bytes)) == 0;
    close(fd);
    return ok;
  }
  void FreeFiller() { unlink(filler().c_str()); }

 private:
  explicit TmpfsMount(std::string path) : path_(std::move(path)) {}
  std::string filler() const { return path_ + "/filler"; }
  std::string path_;
};

}  // namespace gpt4rec::testing
