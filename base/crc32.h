// CRC-32 (IEEE 802.3 polynomial, reflected, as zlib and PNG compute it): the
// checksum of board-image headers and sections and of protocol frame headers.
//
// Crc32("123456789") == 0xCBF43926. Crc32Extend lets a checksum be computed
// over pieces: Crc32Extend(Crc32(a), b) == Crc32(a + b).
//
// Thread safety: pure functions over a constant table.
#ifndef SPK_BASE_CRC32_H_
#define SPK_BASE_CRC32_H_

#include <cstdint>
#include <span>

namespace spk {

uint32_t Crc32Extend(uint32_t crc, std::span<const uint8_t> data);

inline uint32_t Crc32(std::span<const uint8_t> data) { return Crc32Extend(0, data); }

}  // namespace spk

#endif  // SPK_BASE_CRC32_H_
