// The rules a board image must satisfy before any device or the emulator may
// run it. WriteBoardImage and ReadBoardImage call ValidateBoardImage; the
// compiler may call it on its own before writing anything.
//
// Every failure is INVALID_ARGUMENT and names the object and the field:
//   group 7 (layer "blocks.0.attn.q_lif"): du 5000 exceeds 4095
//   table 3 (to group 7, layer "fc1"): weights[12] = 5 is not a multiple of 2
//     (mixed-sign weights with num_weight_bits 8 keep their low 1 bits zero)
// Objects are named as: meta, core <i>, group <id> (layer "..."), table <id>
// (to group <id>, layer "..."), route <i> (group <id> -> core <c>), input port
// <i> ("name"), output port <i> ("name"), host segment <i> ("name").
//
// The rules (docs/board-image.md lists them with their reasons): value widths
// of facts/chip.md, per-neuron vectors empty or of group size, unique ids,
// every reference resolves, weight ranges and sign-mode truncation, source
// windows inside their source (whole for conv2d), conv boxes inside their
// maps and conv windows inside the source box, table sizes consistent with
// the source window, target and conv geometry (and boxes), CSR structure,
// output ports covered exactly once by their segments, a route for every
// (source group, target core) a table uses, run_steps >= timesteps.
//
// Thread safety: pure functions.
#ifndef SPK_HAL_FORMAT_BOARD_IMAGE_VALIDATE_H_
#define SPK_HAL_FORMAT_BOARD_IMAGE_VALIDATE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "hal/format/board_image.h"

namespace spk::hal::format {

// Value limits (facts/chip.md; the ones marked "ours" are this format's own).
inline constexpr uint32_t kMaxDecay = 4095;          // du, dv: unsigned 12-bit
inline constexpr uint32_t kMaxVth = (1u << 17) - 1;  // unsigned 17-bit
inline constexpr int32_t kMinBiasMant = -(1 << 12);  // signed 13-bit
inline constexpr int32_t kMaxBiasMant = (1 << 12) - 1;
inline constexpr int32_t kMinBiasExp = -7;  // 3-bit magnitude
inline constexpr int32_t kMaxBiasExp = 7;
inline constexpr int32_t kMinState = -(1 << 23);  // u, v: signed 24-bit
inline constexpr int32_t kMaxState = (1 << 23) - 1;
inline constexpr int32_t kMinWeight = -256;  // 8-bit magnitude plus sign
inline constexpr int32_t kMaxWeight = 255;
inline constexpr int32_t kMinWeightExp = -16;    // ours: a_in is 16-bit, so
inline constexpr int32_t kMaxWeightExp = 15;     // wider shifts lose every bit
inline constexpr int32_t kMaxSynapseDelay = 62;  // extra steps, as Loihi 2 per-synapse delays
inline constexpr size_t kMaxNameLength = 4096;   // ours: names and strings

// Returns OK or the first problem found.
Status ValidateBoardImage(const BoardImage& image);

// Returns every problem found, at most `max_problems` of them (one per field
// and object: a table with a million bad weights reports the first). Empty
// when the image is valid.
std::vector<Status> ValidateBoardImageAll(const BoardImage& image, size_t max_problems = 1000);

// Compartments a table's source feeds from: the input port's element count or
// the source group's size; 0 when the source does not resolve.
uint64_t SourceSize(const BoardImage& image, const SynapseSource& source);

// The boxes and window of a conv2d table with every count of 0 resolved to
// its whole extent (map coordinates): the source box rows [in_y0, +in_yn) x
// columns [in_x0, +in_xn), the target box likewise in the output map, and
// the window rows [win_y0, +win_yn) x columns [win_x0, +win_xn), the whole
// source box when its counts are 0. Offsets of whole extents are 0 whatever
// the fields hold; nothing is checked.
struct ConvBox {
  uint32_t in_y0 = 0, in_yn = 0, in_x0 = 0, in_xn = 0;
  uint32_t out_y0 = 0, out_yn = 0, out_x0 = 0, out_xn = 0;
  uint32_t win_y0 = 0, win_yn = 0, win_x0 = 0, win_xn = 0;
};
ConvBox ResolveConvBox(const Conv2dGeometry& conv);

// Element count of a shape, saturating at UINT64_MAX; 1 for an empty shape.
uint64_t ShapeElements(const std::vector<uint32_t>& shape);

// The sign mode of facts/chip.md decides how many low bits of each weight the
// hardware drops: 8 - num_weight_bits, plus one for mixed signs.
enum class WeightSignMode { kExcitatory, kInhibitory, kMixed };
WeightSignMode SignModeOf(const std::vector<int16_t>& weights);
int TruncatedLowBits(WeightSignMode mode, uint8_t num_weight_bits);

}  // namespace spk::hal::format

#endif  // SPK_HAL_FORMAT_BOARD_IMAGE_VALIDATE_H_
