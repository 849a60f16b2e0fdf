// Time per step as the emulator benchmark measures it, for both sides.
//
// Thread safety: plain values and a pure function.
#ifndef SPK_BENCH_SIM_STEP_TIME_H_
#define SPK_BENCH_SIM_STEP_TIME_H_

#include <ctime>

namespace spk::bench {

struct StepTime {
  double cpu_s = 0;   // thread CPU time per step: robust to other load on the machine
  double wall_s = 0;  // wall time per step
};

// CPU time of the calling thread, in seconds.
inline double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace spk::bench

#endif  // SPK_BENCH_SIM_STEP_TIME_H_
