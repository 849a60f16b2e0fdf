#include "base/sha256.h"

#include <string>

#include <gtest/gtest.h>

namespace spk {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, ChunkedUpdatesMatchOneShot) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += static_cast<char>(i * 7);
  for (size_t chunk : {1u, 3u, 63u, 64u, 65u}) {
    Sha256 h;
    for (size_t i = 0; i < text.size(); i += chunk) {
      h.Update(std::string_view(text).substr(i, chunk));
    }
    EXPECT_EQ(h.FinishHex(), Sha256Hex(text)) << chunk;
  }
}

// Large updates take the CPU's SHA instructions where it has them; bytes
// fed one at a time take the portable rounds. Both agree on every length.
TEST(Sha256Test, BlockPathsAgree) {
  std::string text;
  uint32_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1103515245u + 12345u;
    text += static_cast<char>(x >> 24);
  }
  for (size_t n : {size_t{64}, size_t{127}, size_t{128}, size_t{1000}, size_t{4097}, text.size()}) {
    const std::string_view part = std::string_view(text).substr(0, n);
    Sha256 bytewise;
    for (char c : part) bytewise.Update(std::string_view(&c, 1));
    EXPECT_EQ(Sha256Hex(part), bytewise.FinishHex()) << n;
  }
}

}  // namespace
}  // namespace spk
