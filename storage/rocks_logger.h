// Private to storage/: RocksDB's info log (<dir>/LOG) through a writer that survives a full disk.
#pragma once

#include <memory>
#include <string>

#include "rocksdb/env.h"

namespace gpt4rec::storage {

// Why not RocksDB's own logger: its LOG file writer, once a write failed with ENOSPC, aborts the process on
// the next log line (the Debian build keeps assertions: `Assertion 'sync_without_flush_called_' failed`), and
// RocksDB logs exactly when the disk fills. This one writes each line with write(2) and drops the line when the
// write fails. The previous LOG is kept as LOG.old (two files, as keep_log_file_num = 2 did).
std::shared_ptr<rocksdb::Logger> OpenTolerantLogger(const std::string& dir);

}  // namespace gpt4rec::storage
