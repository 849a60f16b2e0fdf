// Board images for tests, fuzz seeds and benchmarks, and helpers to tamper
// with their bytes. Test-only: linked by tests and fuzzers, never by spiked.
//
// Thread safety: pure functions.
#ifndef SPK_HAL_FORMAT_TEST_IMAGES_H_
#define SPK_HAL_FORMAT_TEST_IMAGES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "hal/format/board_image.h"

namespace spk::hal::format::testing {

// Uses every part of the format: all neuron models, binary and graded spikes,
// dense, sparse and conv2d tables (one grouped and sliced, one between
// spatial tiles reading a window), two tables reading a window of their
// source, every output source, multi-segment output ports and host segments
// with tensors. Valid.
BoardImage MakeRepresentativeImage();

// One input port, one group, one dense table, one output port: a few hundred
// bytes, for tests that try every byte offset. Valid.
BoardImage MakeSmallImage();

// Recomputes every checksum an image's bytes carry (sections in range, the
// section table, the header) after a test changed them on purpose, so the
// decoder behind the checksums gets exercised. Leaves bytes it cannot make
// sense of alone.
void RecomputeChecksums(std::vector<uint8_t>& bytes);

// The property every input must satisfy: ReadBoardImage does not crash, fails
// only with INVALID_ARGUMENT, DATA_LOSS or FAILED_PRECONDITION, and what it
// accepts writes back and reads back to the same image. Aborts otherwise.
void CheckReadBoardImageContract(std::span<const uint8_t> bytes);

}  // namespace spk::hal::format::testing

#endif  // SPK_HAL_FORMAT_TEST_IMAGES_H_
