// SHA-256 (FIPS 180-4), for the model digest in an image's meta and the
// artifact cache's keys.
//
// Thread safety: Sha256 objects are not shared; the functions are pure.
#ifndef SPK_BASE_SHA256_H_
#define SPK_BASE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace spk {

class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view text);
  // 64 lowercase hex digits; the object must not be used afterwards.
  std::string FinishHex();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes seen
};

std::string Sha256Hex(std::span<const uint8_t> bytes);
std::string Sha256Hex(std::string_view text);

}  // namespace spk

#endif  // SPK_BASE_SHA256_H_
