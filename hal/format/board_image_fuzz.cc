// Fuzz target for the board-image reader, the parser of the one file format
// that arrives from outside (the artifact cache, `spikectl deploy`).
//
// Each input is read twice: as given, where almost every mutation stops at a
// checksum, and with its checksums recomputed, so the section decoders and the
// validator behind them see the mutation too. The contract is
// CheckReadBoardImageContract's: no crash, only INVALID_ARGUMENT, DATA_LOSS or
// FAILED_PRECONDITION, and what reads writes back unchanged.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "hal/format/test_images.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  spk::hal::format::testing::CheckReadBoardImageContract(bytes);
  std::vector<uint8_t> fixed(bytes.begin(), bytes.end());
  spk::hal::format::testing::RecomputeChecksums(fixed);
  spk::hal::format::testing::CheckReadBoardImageContract(fixed);
  return 0;
}
