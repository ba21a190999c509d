// Private (torch-free): the checkpoint file format. A checkpoint is a config text, counters and named arrays.
//
// Layout (little-endian): magic "GPT4RCKP", u32 format version, u32 config length + config text,
// i64 counter count + (u32 name length, name, i64 value)*, u32 array count + per array:
// u32 name length, name, u8 dtype (0 f32, 1 i64, 2 i32), u32 ndim, i64 dims[ndim], raw data; then u64 FNV-1a
// checksum of everything before it. Written with util::WriteFileAtomically (temp file, fsync, rename over <path>, fsync of the directory).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::model {

inline constexpr uint32_t kCheckpointVersion = 1;

struct ArrayBlob {
  uint8_t dtype = 0;  // 0 f32, 1 i64, 2 i32
  std::vector<int64_t> shape;
  std::string bytes;
};

struct CheckpointContents {
  std::string config_text;
  std::map<std::string, int64_t> counters;
  std::map<std::string, ArrayBlob> arrays;
};

absl::Status WriteCheckpointFile(const std::string& path, const CheckpointContents& contents);
// DATA_LOSS for a truncated or corrupted file, FAILED_PRECONDITION for an unknown version.
absl::StatusOr<CheckpointContents> ReadCheckpointFile(const std::string& path);

}  // namespace gpt4rec::model
