// Hands out the cores of one board as partitions, disjoint sets of physical
// cores, one per loaded program.
//
// Allocation prefers, in order: as few chips as possible (spikes that cross
// chips cost most), then cores contiguous within a chip, then the tightest
// fit (the smallest free run or chip that holds the request, keeping large
// runs whole for large models). It is deterministic: the same sequence of
// calls gives the same partitions. Cores are numbered
// chip * cores_per_chip + core, as in hal::Partition, and partitions list
// them in ascending order.
//
// After a restart the daemon re-marks the partitions of its deployments with
// Restore before allocating anything new.
//
// Thread safety: all methods may be called from several threads at once
// (guarded by an internal mutex).
#ifndef SPK_HAL_PARTITION_ALLOCATOR_H_
#define SPK_HAL_PARTITION_ALLOCATOR_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/status.h"
#include "hal/device.h"

namespace spk::hal {

class PartitionAllocator {
 public:
  // INVALID_ARGUMENT when chips or cores_per_chip is 0, or the board would
  // have 2^32 cores or more.
  static StatusOr<std::unique_ptr<PartitionAllocator>> Create(uint32_t chips,
                                                              uint32_t cores_per_chip);
  static StatusOr<std::unique_ptr<PartitionAllocator>> Create(const DeviceInfo& info);

  PartitionAllocator(const PartitionAllocator&) = delete;
  PartitionAllocator& operator=(const PartitionAllocator&) = delete;

  // `cores` free cores. INVALID_ARGUMENT for 0; RESOURCE_EXHAUSTED saying how
  // many are free when fewer than `cores` are.
  StatusOr<Partition> Allocate(uint32_t cores);
  // `cores` free cores of chip `chip` only (a deploy's partition.chip), the
  // tightest span there. INVALID_ARGUMENT for 0 cores or a chip the board
  // does not have; RESOURCE_EXHAUSTED saying how many the chip has free.
  StatusOr<Partition> AllocateOnChip(uint32_t cores, uint32_t chip);

  // Marks a known partition taken (restart recovery); all or nothing.
  // INVALID_ARGUMENT for an empty partition, a core off the board or a core
  // listed twice; ALREADY_EXISTS naming the cores already allocated.
  Status Restore(const Partition& partition);

  // Returns a partition's cores; all or nothing. INVALID_ARGUMENT as for
  // Restore; NOT_FOUND naming the cores that are not allocated.
  Status Free(const Partition& partition);

  uint32_t chips() const { return chips_; }
  uint32_t cores_per_chip() const { return cores_per_chip_; }
  uint32_t total_cores() const { return chips_ * cores_per_chip_; }
  uint32_t free_cores() const;
  uint32_t free_cores_on_chip(uint32_t chip) const;
  bool IsAllocated(uint32_t core) const;

 private:
  PartitionAllocator(uint32_t chips, uint32_t cores_per_chip);

  // Checks range and duplicates; INVALID_ARGUMENT naming the core.
  Status CheckCores(const Partition& partition, const char* verb) const;
  uint32_t FreeOnChipLocked(uint32_t chip) const;
  // The `n` free cores of `chip` with the smallest span, ascending.
  std::vector<uint32_t> TightestOnChipLocked(uint32_t chip, uint32_t n) const;

  const uint32_t chips_;
  const uint32_t cores_per_chip_;
  mutable std::mutex mu_;
  std::vector<bool> taken_;  // guarded by mu_; by physical core
  uint32_t free_ = 0;        // guarded by mu_
};

}  // namespace spk::hal

#endif  // SPK_HAL_PARTITION_ALLOCATOR_H_
