#include "tests/support/digits.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace spk::testing {

std::vector<float> Digits::Image(uint32_t i) const {
  const size_t n = size_t{rows} * cols;
  return {pixels.begin() + static_cast<std::ptrdiff_t>(i * n),
          pixels.begin() + static_cast<std::ptrdiff_t>((i + 1) * n)};
}

StatusOr<Digits> ReadDigits(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError("cannot read " + path);
  const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (b.size() < 24 || b.compare(0, 8, "SPKDIGIT") != 0) {
    return InvalidArgumentError(path + " is not a SPKDIGIT file");
  }
  Digits d;
  std::memcpy(&d.count, b.data() + 12, 4);
  std::memcpy(&d.rows, b.data() + 16, 4);
  std::memcpy(&d.cols, b.data() + 20, 4);
  const size_t n = size_t{d.count} * d.rows * d.cols;
  if (b.size() != 24 + 4 * (n + d.count)) {
    return InvalidArgumentError(path + ": " + std::to_string(b.size()) + " bytes, expected " +
                                std::to_string(24 + 4 * (n + d.count)) + " for " +
                                std::to_string(d.count) + " images of " + std::to_string(d.rows) +
                                "x" + std::to_string(d.cols));
  }
  d.pixels.resize(n);
  std::memcpy(d.pixels.data(), b.data() + 24, 4 * n);
  d.labels.resize(d.count);
  std::memcpy(d.labels.data(), b.data() + 24 + 4 * n, 4 * size_t{d.count});
  return d;
}

}  // namespace spk::testing
