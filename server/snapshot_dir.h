// Snapshot directories and the data-directory check at start-up.
//
// A snapshot used to be written in place: a SIGKILL mid-way left a partial directory that a retry refused
// (ALREADY_EXISTS) and that a server started on it opened as a FRESH EMPTY store, reporting SERVING with 0
// events. Now:
//   - a snapshot is written under <dir>.partial, which holds SNAPSHOT_INCOMPLETE from its first moment; when the
//     store checkpoint and the model files are in place (and synced), SNAPSHOT_INCOMPLETE is replaced by
//     SNAPSHOT_COMPLETE and the directory is renamed to <dir> (rename is atomic): <dir> exists only complete;
//   - a leftover <dir>.partial is removed by the next Snapshot to <dir>, and under <data_dir>/snapshots/ at start;
//   - a server refuses to start on a directory that holds SNAPSHOT_INCOMPLETE, or that holds model files or
//     SNAPSHOT_COMPLETE but no graph store: it never silently creates an empty store where data was expected.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpt4rec::server {

inline constexpr char kSnapshotComplete[] = "SNAPSHOT_COMPLETE";
inline constexpr char kSnapshotIncomplete[] = "SNAPSHOT_INCOMPLETE";
inline constexpr char kPartialSuffix[] = ".partial";

// FAILED_PRECONDITION (naming what was found) when `data_dir` must not be opened; OK for a fresh or empty
// directory, a normal data directory, or a complete snapshot.
absl::Status CheckDataDir(const std::string& data_dir);

// Removes <data_dir>/snapshots/*.partial (interrupted snapshots); returns how many.
int RemovePartialSnapshots(const std::string& data_dir);

// The directory a Snapshot writes: `requested` (ALREADY_EXISTS when it exists), or, when empty,
// <data_dir>/snapshots/<unix time>, with -1, -2, ... appended while that name is taken (two snapshots in one
// second get two directories).
absl::StatusOr<std::string> ChooseSnapshotDir(const std::string& data_dir, const std::string& requested);

// fsync of a file or directory (best effort for directories on file systems that refuse it).
absl::Status SyncPath(const std::string& path);

}  // namespace gpt4rec::server
