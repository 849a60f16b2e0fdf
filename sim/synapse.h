// Synapse tables as the emulator runs them, and their event-driven fan-out.
//
// Each step a table turns its source's spikes into input for its target group:
//   binary spikes  a = sum of the weight rows of the firing sources
//   graded spikes  a = sum of payload * weight
// then a is scaled by the table's weight exponent (arithmetic shift, floors
// for a negative exponent) and added to the target port's accumulator. Only
// firing sources are visited. Tables targeting one group are summed exactly
// (64-bit) and saturated to the 16-bit a_in once, by the caller.
//
// Dense weights are stored as int8 when every weight is a multiple of 2^s and
// w >> s fits in int8 (mixed-sign 8-bit weights always do, with s = 1), else
// as int16; binary fan-out then adds int8 rows into int16 partial sums that
// are flushed to int32 every 256 rows, before overflow is possible.
//
// Thread safety: a CompiledTable is immutable after CompileTable; FanOut
// writes only the scratch and accumulator it is given.
#ifndef SPK_SIM_SYNAPSE_H_
#define SPK_SIM_SYNAPSE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"
#include "sim/neuron.h"

namespace spk::sim {

// One kernel row (or column) through which a source row (column) reaches a
// target row (column): `weight` and `target` are the offsets it adds to the
// weight index and to the target index.
struct ConvTap {
  uint32_t weight = 0;
  uint32_t target = 0;
};

// A conv2d table with its weights regrouped for scattering one input pixel:
// [in channel within its group][ky][kx][out channel of the slice], and the
// geometry resolved at compile time. The source holds a box of the input
// map (box-local CHW) and the target a box of the output map; for each row
// of the source box the taps list the (ky, output row inside the target box)
// pairs that row reaches, and likewise for columns. Rows and columns outside
// the table's window have no taps, so their spikes are not delivered.
struct ConvPlan {
  uint32_t in_c_count = 0;
  uint32_t in_rows = 0, in_cols = 0;  // the source box
  uint32_t out_c_count = 0;
  uint32_t out_plane = 0;  // rows x columns of the target box
  // Per source channel (slice-local): the target channels [lo, hi) of its
  // group that the slice holds (slice-local), and its weight offset.
  struct Channel {
    uint32_t lo = 0, hi = 0;
    uint32_t weight = 0;  // icg x kernel_h x kernel_w x out_c_count
  };
  std::vector<Channel> channels;
  std::vector<uint32_t> row_begin;  // in_rows + 1 entries into row_taps
  std::vector<ConvTap> row_taps;    // weight: ky x kernel_w x out_c_count; target: row x cols
  std::vector<uint32_t> col_begin;  // in_cols + 1 entries into col_taps
  std::vector<ConvTap> col_taps;    // weight: kx x out_c_count; target: column
  std::shared_ptr<const std::vector<int16_t>> weights;  // shared by tables of one kernel
};

struct CompiledTable {
  uint32_t id = 0;  // image table id, for errors and reports
  hal::format::SynapseFormat format = hal::format::SynapseFormat::kDense;
  uint32_t source_size = 0;  // neurons of the whole source
  // The window of the source the table reads: neuron source_offset + r is
  // row r, for r < rows (rows = source_size for a whole-source table). FanOut
  // takes spikes already in rows; SliceWindow makes them.
  uint32_t source_offset = 0;
  uint32_t rows = 0;
  bool windowed = false;  // rows do not cover the whole source
  uint32_t target_size = 0;
  bool graded_source = false;
  int weight_exp = 0;
  uint32_t delay = 0;     // extra steps beyond the inherent one
  int storage_shift = 0;  // dense int8 storage: w = w8 << storage_shift
  uint64_t synapses = 0;  // stored synapses, for memory accounting
  // Immutable once built, so tables sharing an image table's weights
  // (weights_of) share them here too. w8 is null unless int8 storage fits.
  std::shared_ptr<const std::vector<int8_t>> w8;
  std::shared_ptr<const std::vector<int16_t>> w16;  // dense when int8 does not fit, sparse values
  std::vector<uint32_t> row_ptr;
  std::vector<uint32_t> col;
  ConvPlan conv;
};

// The most rows (source neurons it reads) a table may have: it keeps every
// binary sum in int32 and every graded sum in int64 without overflow.
inline constexpr uint32_t kMaxTableSource = uint32_t{1} << 23;

// Builds the runtime form of a table from a validated image (weights in
// -256..255, weight_exp in -16..15). Sizes and the source window are checked
// again, since a mismatch would index out of bounds: INVALID_ARGUMENT names
// the table.
// A table sharing another's weights (weights_of) is compiled with `owner`,
// that table compiled, whose weight storage it then shares.
StatusOr<CompiledTable> CompileTable(const hal::format::SynapseTable& table, uint32_t source_size,
                                     uint32_t target_size, bool graded_source,
                                     const CompiledTable* owner = nullptr);

// Scratch buffers of one thread; sized on first use.
struct FanOutScratch {
  std::vector<int16_t> acc16;
  std::vector<int32_t> acc32;
  std::vector<int64_t> acc64;
};

// The spikes of `source` (the table's whole source) that fall in the table's
// window, as rows: index - source_offset, payloads kept. O(log n + spikes in
// the window); `source` must be ascending, as every SpikeList is.
void SliceWindow(const CompiledTable& table, const SpikeList& source, SpikeList* rows);

// Adds the scaled contribution of `spikes` (row indices, below table.rows)
// to `accumulator` (target_size entries). Returns the number of synaptic
// events (weights applied).
uint64_t FanOut(const CompiledTable& table, const SpikeList& spikes, FanOutScratch* scratch,
                int64_t* accumulator);

}  // namespace spk::sim

#endif  // SPK_SIM_SYNAPSE_H_
