#include "hal/partition_allocator.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <set>
#include <string>

namespace spk::hal {
namespace {

// "cores 4, 5, 9" with at most a few listed.
std::string CoreList(const std::vector<uint32_t>& cores) {
  constexpr size_t kShown = 8;
  std::string out = cores.size() == 1 ? "core " : "cores ";
  for (size_t i = 0; i < cores.size() && i < kShown; ++i) {
    out += (i ? ", " : "") + std::to_string(cores[i]);
  }
  if (cores.size() > kShown) out += " and " + std::to_string(cores.size() - kShown) + " more";
  return out;
}

}  // namespace

PartitionAllocator::PartitionAllocator(uint32_t chips, uint32_t cores_per_chip)
    : chips_(chips),
      cores_per_chip_(cores_per_chip),
      taken_(size_t{chips} * cores_per_chip, false),
      free_(chips * cores_per_chip) {}

StatusOr<std::unique_ptr<PartitionAllocator>> PartitionAllocator::Create(uint32_t chips,
                                                                         uint32_t cores_per_chip) {
  if (chips == 0 || cores_per_chip == 0) {
    return InvalidArgumentError("a board needs at least one chip and one core per chip (got " +
                                std::to_string(chips) + " x " + std::to_string(cores_per_chip) +
                                ")");
  }
  if (uint64_t{chips} * cores_per_chip > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgumentError("a board of " + std::to_string(chips) + " x " +
                                std::to_string(cores_per_chip) + " cores is too large");
  }
  return std::unique_ptr<PartitionAllocator>(new PartitionAllocator(chips, cores_per_chip));
}

StatusOr<std::unique_ptr<PartitionAllocator>> PartitionAllocator::Create(const DeviceInfo& info) {
  return Create(info.chips, info.cores_per_chip);
}

uint32_t PartitionAllocator::free_cores() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_;
}

uint32_t PartitionAllocator::free_cores_on_chip(uint32_t chip) const {
  std::lock_guard<std::mutex> lock(mu_);
  return chip < chips_ ? FreeOnChipLocked(chip) : 0;
}

bool PartitionAllocator::IsAllocated(uint32_t core) const {
  std::lock_guard<std::mutex> lock(mu_);
  return core < taken_.size() && taken_[core];
}

uint32_t PartitionAllocator::FreeOnChipLocked(uint32_t chip) const {
  uint32_t n = 0;
  for (uint32_t c = 0; c < cores_per_chip_; ++c) n += taken_[chip * cores_per_chip_ + c] ? 0 : 1;
  return n;
}

std::vector<uint32_t> PartitionAllocator::TightestOnChipLocked(uint32_t chip, uint32_t n) const {
  std::vector<uint32_t> free;
  for (uint32_t c = 0; c < cores_per_chip_; ++c) {
    uint32_t core = chip * cores_per_chip_ + c;
    if (!taken_[core]) free.push_back(core);
  }
  size_t best = 0;
  for (size_t i = 1; i + n <= free.size(); ++i) {
    if (free[i + n - 1] - free[i] < free[best + n - 1] - free[best]) best = i;
  }
  return std::vector<uint32_t>(free.begin() + static_cast<ptrdiff_t>(best),
                               free.begin() + static_cast<ptrdiff_t>(best + n));
}

StatusOr<Partition> PartitionAllocator::AllocateOnChip(uint32_t n, uint32_t chip) {
  if (n == 0) return InvalidArgumentError("cannot allocate a partition of 0 cores");
  if (chip >= chips_) {
    return InvalidArgumentError("chip " + std::to_string(chip) + " does not exist: the board has " +
                                std::to_string(chips_) + " chips (0-" + std::to_string(chips_ - 1) +
                                ")");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t free_here = FreeOnChipLocked(chip);
  if (n > free_here) {
    return ResourceExhaustedError("need " + std::to_string(n) + " cores on chip " +
                                  std::to_string(chip) + ", but only " + std::to_string(free_here) +
                                  " of its " + std::to_string(cores_per_chip_) + " are free");
  }
  Partition partition;
  partition.cores = TightestOnChipLocked(chip, n);
  for (uint32_t core : partition.cores) taken_[core] = true;
  free_ -= n;
  return partition;
}

StatusOr<Partition> PartitionAllocator::Allocate(uint32_t n) {
  if (n == 0) return InvalidArgumentError("cannot allocate a partition of 0 cores");
  std::lock_guard<std::mutex> lock(mu_);
  if (n > free_) {
    return ResourceExhaustedError("need " + std::to_string(n) + " cores, but only " +
                                  std::to_string(free_) + " of the board's " +
                                  std::to_string(total_cores()) + " are free");
  }
  Partition partition;
  auto take = [&](const std::vector<uint32_t>& cores) {
    for (uint32_t core : cores) {
      taken_[core] = true;
      partition.cores.push_back(core);
    }
    free_ -= static_cast<uint32_t>(cores.size());
  };

  // 1. A contiguous run on one chip, the shortest that fits.
  uint32_t best_len = 0, best_start = 0;
  for (uint32_t chip = 0; chip < chips_; ++chip) {
    uint32_t base = chip * cores_per_chip_;
    for (uint32_t c = 0; c < cores_per_chip_;) {
      if (taken_[base + c]) {
        ++c;
        continue;
      }
      uint32_t start = c;
      while (c < cores_per_chip_ && !taken_[base + c]) ++c;
      uint32_t len = c - start;
      if (len >= n && (best_len == 0 || len < best_len)) {
        best_len = len;
        best_start = base + start;
      }
    }
  }
  if (best_len != 0) {
    std::vector<uint32_t> cores(n);
    std::iota(cores.begin(), cores.end(), best_start);
    take(cores);
    return partition;
  }

  std::vector<uint32_t> free_on(chips_);
  for (uint32_t chip = 0; chip < chips_; ++chip) free_on[chip] = FreeOnChipLocked(chip);

  // 2. One chip, fragmented: the chip with the fewest free cores that fit.
  uint32_t best_chip = chips_;
  for (uint32_t chip = 0; chip < chips_; ++chip) {
    if (free_on[chip] >= n && (best_chip == chips_ || free_on[chip] < free_on[best_chip])) {
      best_chip = chip;
    }
  }
  if (best_chip != chips_) {
    take(TightestOnChipLocked(best_chip, n));
    return partition;
  }

  // 3. Several chips, as few as possible: k = how many of the emptiest chips
  // it takes. Prefer k neighbouring chips (the tightest such window), else the
  // k emptiest wherever they are.
  std::vector<uint32_t> by_free(chips_);
  std::iota(by_free.begin(), by_free.end(), 0);
  std::stable_sort(by_free.begin(), by_free.end(),
                   [&](uint32_t a, uint32_t b) { return free_on[a] > free_on[b]; });
  uint32_t k = 0;
  for (uint64_t sum = 0; sum < n; ++k) sum += free_on[by_free[k]];
  std::vector<uint32_t> chosen;
  uint64_t best_sum = 0;
  for (uint32_t first = 0; first + k <= chips_; ++first) {
    uint64_t sum = 0;
    for (uint32_t chip = first; chip < first + k; ++chip) sum += free_on[chip];
    if (sum >= n && (chosen.empty() || sum < best_sum)) {
      best_sum = sum;
      chosen.resize(k);
      std::iota(chosen.begin(), chosen.end(), first);
    }
  }
  if (chosen.empty()) {
    chosen.assign(by_free.begin(), by_free.begin() + k);
    std::sort(chosen.begin(), chosen.end());
  }
  // Any k - 1 of them hold fewer than n, so all but the last fill completely.
  uint32_t remaining = n;
  for (uint32_t chip : chosen) {
    uint32_t here = std::min(remaining, free_on[chip]);
    take(TightestOnChipLocked(chip, here));
    remaining -= here;
  }
  std::sort(partition.cores.begin(), partition.cores.end());
  return partition;
}

Status PartitionAllocator::CheckCores(const Partition& partition, const char* verb) const {
  if (partition.cores.empty()) {
    return InvalidArgumentError(std::string("cannot ") + verb + " an empty partition");
  }
  std::set<uint32_t> seen;
  for (uint32_t core : partition.cores) {
    if (core >= total_cores()) {
      return InvalidArgumentError(std::string("cannot ") + verb + " core " + std::to_string(core) +
                                  ": the board has " + std::to_string(total_cores()) + " cores");
    }
    if (!seen.insert(core).second) {
      return InvalidArgumentError(std::string("cannot ") + verb + " a partition listing core " +
                                  std::to_string(core) + " twice");
    }
  }
  return Status::Ok();
}

Status PartitionAllocator::Restore(const Partition& partition) {
  SPK_RETURN_IF_ERROR(CheckCores(partition, "restore"));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint32_t> clash;
  for (uint32_t core : partition.cores) {
    if (taken_[core]) clash.push_back(core);
  }
  if (!clash.empty()) {
    std::sort(clash.begin(), clash.end());
    return AlreadyExistsError(
        "cannot restore a partition of " + std::to_string(partition.cores.size()) +
        " cores: " + CoreList(clash) + (clash.size() == 1 ? " is" : " are") + " already allocated");
  }
  for (uint32_t core : partition.cores) taken_[core] = true;
  free_ -= static_cast<uint32_t>(partition.cores.size());
  return Status::Ok();
}

Status PartitionAllocator::Free(const Partition& partition) {
  SPK_RETURN_IF_ERROR(CheckCores(partition, "free"));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint32_t> loose;
  for (uint32_t core : partition.cores) {
    if (!taken_[core]) loose.push_back(core);
  }
  if (!loose.empty()) {
    std::sort(loose.begin(), loose.end());
    return NotFoundError("cannot free the partition: " + CoreList(loose) +
                         (loose.size() == 1 ? " is" : " are") + " not allocated");
  }
  for (uint32_t core : partition.cores) taken_[core] = false;
  free_ += static_cast<uint32_t>(partition.cores.size());
  return Status::Ok();
}

}  // namespace spk::hal
