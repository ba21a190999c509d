// eval/ — what one stretch of work (a strategy's update of one segment) costs the process, for the replay's
// efficiency report: its peak resident memory and its CPU seconds. Linux: /proc/self/clear_refs "5" resets the
// high-water mark (VmHWM) to the current resident size, so each update's peak is measured on its own even though
// every strategy shares the process; the strategies run one after another, so the process's CPU time over an
// update is that update's (wall time on a shared machine moves with the other jobs, CPU time much less).
#pragma once

namespace gpt4rec::eval {

// Resets the high-water mark; false where the kernel does not allow it (the peak then covers the process so far).
bool ResetPeakResident();
// VmHWM in MiB (since the last reset); 0 where /proc is unavailable.
double PeakResidentMiB();
// User + system CPU seconds of the whole process so far.
double ProcessCpuSeconds();

}  // namespace gpt4rec::eval
