// The digits test split as python/gen_fixtures.py writes it
// (<fixtures>/data/digits_test.bin): the "SPKDIGIT" magic, a u32 version,
// u32 count, rows and cols, then count*rows*cols f32 pixels and count i32
// labels, all little-endian. One reader for every test that classifies it.
#ifndef SPK_TESTS_SUPPORT_DIGITS_H_
#define SPK_TESTS_SUPPORT_DIGITS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace spk::testing {

struct Digits {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<float> pixels;  // count x rows x cols
  std::vector<int32_t> labels;

  std::vector<float> Image(uint32_t i) const;
};

// INVALID_ARGUMENT naming the file and what is wrong with it.
StatusOr<Digits> ReadDigits(const std::string& path);

}  // namespace spk::testing

#endif  // SPK_TESTS_SUPPORT_DIGITS_H_
