#include "base/crc32.h"

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace spk {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Crc32Test, KnownVectors) {
  EXPECT_EQ(Crc32(Bytes("")), 0u);
  EXPECT_EQ(Crc32(Bytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32(Bytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32(zeros), 0x190A55ADu);
  std::vector<uint8_t> ones(32, 0xFF);
  EXPECT_EQ(Crc32(ones), 0xFF6CAB0Bu);
}

TEST(Crc32Test, ExtendEqualsWhole) {
  std::string_view text = "spiked board image section";
  for (size_t split = 0; split <= text.size(); ++split) {
    uint32_t a = Crc32(Bytes(text.substr(0, split)));
    EXPECT_EQ(Crc32Extend(a, Bytes(text.substr(split))), Crc32(Bytes(text))) << split;
  }
}

TEST(Crc32Test, DetectsEverySingleBitFlip) {
  std::vector<uint8_t> data(64);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37 + 11);
  uint32_t good = Crc32(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(Crc32(data), good) << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

// Bit at a time, straight from the definition: the reference for the fast
// paths (eight-byte tables, and carry-less folding from 128 bytes on).
uint32_t Reference(uint32_t crc, std::span<const uint8_t> data) {
  uint32_t c = ~crc;
  for (uint8_t b : data) {
    c ^= b;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

TEST(Crc32Test, EveryLengthAndOffsetMatchesTheDefinition) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(2048 + 64);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t offset : {0, 1, 7, 15}) {
    for (size_t n = 0; n <= 1100; n += (n < 300 ? 1 : 37)) {
      const auto piece = std::span<const uint8_t>(data).subspan(offset, n);
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(Crc32Extend(seed, piece), Reference(seed, piece)) << offset << " " << n;
    }
  }
}

TEST(Crc32Test, LargeBuffersMatchTheDefinition) {
  std::mt19937 rng(11);
  std::vector<uint8_t> data((1 << 20) + 45);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(Crc32(data), Reference(0, data));
  std::vector<uint8_t> zeros(1 << 16, 0);
  EXPECT_EQ(Crc32(zeros), Reference(0, zeros));
}

}  // namespace
}  // namespace spk
