// What a board image uses of each logical core's resources: the one count
// both the compiler (its mapping check and report) and the emulator (its load
// check) apply, so they can never disagree.
//
// Per logical core c:
//   neurons       compartments of the groups on c;
//   synapse bits  stored synapses of the tables into groups on c (weights)
//                 x synapse_bits_dense, or synapse_bits_sparse for sparse
//                 tables; conv2d tables into c whose kernels are identical
//                 (same weights, num_weight_bits and kernel shape) share one
//                 copy, counted once;
//   input axons   for each source s (input port or group), the distinct
//                 neurons of s covered by the union of the windows of the
//                 tables from s into groups on c;
//   output axons  for each group g on c and each core d that g's tables feed,
//                 the distinct neurons of g covered by the union of the
//                 windows of g's tables into d.
// A dense or sparse table's window is its source window (source_count 0:
// the whole source); a conv2d table's is its conv window: every channel of
// the source box, in the window's rows and columns (TableRanges). The limits
// of the chip profile (CoreLimits) are not applied here; callers compare and
// report.
//
// Thread safety: pure functions.
#ifndef SPK_HAL_FORMAT_CORE_USAGE_H_
#define SPK_HAL_FORMAT_CORE_USAGE_H_

#include <cstdint>
#include <vector>

#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"

namespace spk::hal::format {

struct CoreUsage {
  uint64_t neurons = 0;
  uint64_t synapse_bits = 0;
  uint64_t input_axons = 0;
  uint64_t output_axons = 0;

  friend bool operator==(const CoreUsage&, const CoreUsage&) = default;
};

// One entry per logical core (image.cores). Takes any image: groups on cores
// the image does not have, tables whose target does not exist and sources
// that do not resolve are left out, and windows are clipped to their source.
// The limits give only the bits charged per synapse.
std::vector<CoreUsage> MeasureCoreUsage(const BoardImage& image, const CoreLimits& limits);

// A half-open range [begin, end) of a source's neurons.
struct NeuronRange {
  uint64_t begin = 0;
  uint64_t end = 0;

  friend bool operator==(const NeuronRange&, const NeuronRange&) = default;
};

// The neurons `table` reads of a source of `source_size` neurons: its window,
// or the whole source when source_count is 0; clipped to the source.
NeuronRange TableWindow(const SynapseTable& table, uint64_t source_size);

// The neurons `table` reads of a source of `source_size` neurons, as sorted,
// disjoint, non-adjacent ranges clipped to the source: a dense or sparse
// table's TableWindow; a conv2d table's conv window, the box-local indices
// (CHW in the source box) of the window's rows x columns of each channel of
// the box. Empty when the table reads nothing.
std::vector<NeuronRange> TableRanges(const SynapseTable& table, uint64_t source_size);

// Sorted, disjoint and non-adjacent ranges covering the same neurons as
// `ranges`; empty ranges are dropped.
std::vector<NeuronRange> MergeRanges(std::vector<NeuronRange> ranges);

}  // namespace spk::hal::format

#endif  // SPK_HAL_FORMAT_CORE_USAGE_H_
