#include "base/crc32.h"

#include <array>
#include <cstddef>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace spk {
namespace {

// Reflected form of 0x04C11DB7: bits enter least significant first.
constexpr uint32_t kPolynomial = 0xEDB88320u;

// Slicing-by-8: kTables[0] is the classic byte table; kTables[k][b] is the
// CRC of byte b followed by k zero bytes, so eight bytes fold in one step.
// Board images reach tens of megabytes, and a byte-at-a-time CRC alone would
// take much of the time budget of a deploy from cache.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

// Folds `n` bytes into the inverted register `c`, eight at a time.
uint32_t Slice8(uint32_t c, const uint8_t* p, size_t n) {
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo =
        c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    uint32_t hi =
        uint32_t{p[4]} | uint32_t{p[5]} << 8 | uint32_t{p[6]} << 16 | uint32_t{p[7]} << 24;
    c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^ kTables[5][(lo >> 16) & 0xFFu] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xFFu] ^ kTables[2][(hi >> 8) & 0xFFu] ^
        kTables[1][(hi >> 16) & 0xFFu] ^ kTables[0][hi >> 24];
  }
  for (; n > 0; --n, ++p) c = kTables[0][(c ^ *p) & 0xFFu] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// Carry-less multiplication folding (Intel, "Fast CRC Computation for
// Generic Polynomials Using PCLMULQDQ", 2009): four 128-bit lanes are
// folded 512 bits forward per step, then into one lane. The lane left over
// is congruent to everything folded, so the table path finishes it as 16
// message bytes from a zero register. About ten times the table path's rate
// on a cache hit's hundreds of megabytes.
// Constants: x^(512+64), x^512 (four lanes) and x^(128+64), x^128 (one lane),
// each mod P, bit-reflected and shifted left once (the paper's k1..k4 for
// the reflected IEEE polynomial).
#define SPK_PCLMUL __attribute__((target("pclmul,sse2")))

SPK_PCLMUL inline __m128i Load(const uint8_t* at) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
}

SPK_PCLMUL inline __m128i FoldInto(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(
      _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

SPK_PCLMUL uint32_t Fold(uint32_t c, const uint8_t*& p, size_t& n) {
  const __m128i by4 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
  const __m128i by1 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
  __m128i x0 = _mm_xor_si128(Load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
  __m128i x1 = Load(p + 16), x2 = Load(p + 32), x3 = Load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; n -= 64, p += 64) {
    x0 = FoldInto(x0, by4, Load(p));
    x1 = FoldInto(x1, by4, Load(p + 16));
    x2 = FoldInto(x2, by4, Load(p + 32));
    x3 = FoldInto(x3, by4, Load(p + 48));
  }
  __m128i x = FoldInto(FoldInto(FoldInto(x0, by1, x1), by1, x2), by1, x3);
  for (; n >= 16; n -= 16, p += 16) x = FoldInto(x, by1, Load(p));
  alignas(16) uint8_t rest[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(rest), x);
  return Slice8(0, rest, sizeof(rest));
}

bool HasPclmul() {
  static const bool has = __builtin_cpu_supports("pclmul");
  return has;
}
#endif

}  // namespace

uint32_t Crc32Extend(uint32_t crc, std::span<const uint8_t> data) {
  // The register is kept inverted so that leading zero bytes change the sum.
  uint32_t c = ~crc;
  const uint8_t* p = data.data();
  size_t n = data.size();
#if defined(__x86_64__)
  if (n >= 128 && HasPclmul()) c = Fold(c, p, n);
#endif
  return ~Slice8(c, p, n);
}

}  // namespace spk
