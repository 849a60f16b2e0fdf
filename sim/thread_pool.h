// A small fixed pool of worker threads for running one timestep's per-core
// work in parallel. The calling thread works too, so a pool of size 1 has no
// workers and runs everything inline.
//
// Results never depend on which thread ran which index: callers give each
// index its own outputs (the emulator partitions work by target core).
//
// Thread safety: ParallelFor may be called from any thread; concurrent calls
// are serialised.
#ifndef SPK_SIM_THREAD_POOL_H_
#define SPK_SIM_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace spk::sim {

class ThreadPool {
 public:
  // `threads` counts the caller; values below 1 mean 1.
  explicit ThreadPool(int threads);
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for every i in [0, n) and returns when all have finished.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  void WorkerLoop();
  void Drain();

  std::mutex call_mu_;  // serialises ParallelFor calls
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  // Guarded by mu_:
  uint64_t generation_ = 0;
  size_t busy_ = 0;  // workers still inside the current job
  bool stop_ = false;
  // Published under mu_ before generation_ changes; read by workers after.
  const std::function<void(size_t)>* job_ = nullptr;
  size_t job_size_ = 0;
  std::atomic<size_t> next_{0};

  std::vector<std::thread> workers_;
};

}  // namespace spk::sim

#endif  // SPK_SIM_THREAD_POOL_H_
