// util/ — CPU seconds of the calling thread (CLOCK_THREAD_CPUTIME_ID): on a shared machine wall time swings with
// other load, this does not. Used by the storage benchmark (the writer's CPU) and by the store's background
// edge-file threads (their CPU, which the writer's misses).
#pragma once

#include <time.h>

namespace gpt4rec::util {

inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace gpt4rec::util
