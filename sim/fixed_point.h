// Bit-exact integer arithmetic of a Loihi-class core: the CUBA LIF update and
// the synaptic scaling, exactly as written in docs/chip-model.md ("What the
// emulator models"), which follows Lava's bit-accurate models.
//
// Everything here is a pure function of its arguments; the group kernels in
// neuron.cc and the fan-out kernels in synapse.cc are loops over these. The
// parameter ranges they assume are hal/format/board_image_validate.h's.
//
// Thread safety: stateless.
#ifndef SPK_SIM_FIXED_POINT_H_
#define SPK_SIM_FIXED_POINT_H_

#include <algorithm>
#include <cstdint>

namespace spk::sim {

// u and v are 24-bit signed: the wrap and the clamp are both relative to 2^23.
inline constexpr int32_t kUvLimit = int32_t{1} << 23;
inline constexpr int32_t kVoltageMax = kUvLimit - 1;
// Decay factors are 12-bit fractions of 4096.
inline constexpr int kDecayShift = 12;
inline constexpr int32_t kDecayOne = int32_t{1} << kDecayShift;
// a_in enters u scaled by 2^6; the threshold is compared as vth << 6.
inline constexpr int kActivationShift = 6;
inline constexpr int kThresholdShift = 6;
// a_in is 16-bit signed on the chip.
inline constexpr int32_t kActivationMin = -32768;
inline constexpr int32_t kActivationMax = 32767;

// x * factor / 4096, rounded toward zero (sign(p) * (|p| >> 12) of the
// 64-bit product p). For |x| <= 2^23 and 0 <= factor <= 4096, the ranges of u
// and v, it is computed exactly in 32 bits, so the neuron loops vectorise:
// with x = hi * 4096 + lo (lo in 0..4095), floor(p / 4096) = hi * factor +
// (lo * factor >> 12), and truncation adds one back for a negative p with a
// remainder.
inline int32_t DecayTowardZero(int32_t x, int32_t factor) {
  const int32_t hi = x >> kDecayShift;
  const int32_t lo_product = (x & (kDecayOne - 1)) * factor;
  const int32_t floor = hi * factor + (lo_product >> kDecayShift);
  return floor + ((x < 0) & ((lo_product & (kDecayOne - 1)) != 0));
}

// The single wrap of u: not a modulo. Exactly +2^23 stays, exactly -2^23
// becomes +2^23, as in Lava.
// Written without branches so the neuron loops vectorise.
inline int32_t WrapCurrent(int32_t u) {
  return u + (static_cast<int32_t>(u <= -kUvLimit) - static_cast<int32_t>(u > kUvLimit)) *
                 (2 * kUvLimit);
}

// Both operands of v's sum are 24-bit and the bias is at most 2^19, so the
// sum fits in 32 bits.
inline int32_t ClampVoltage(int32_t v) { return std::clamp(v, -kVoltageMax, kVoltageMax); }

// b_eff = bias_exp >= 0 ? mant << exp : mant >> -exp (the right shift floors).
inline int32_t EffectiveBias(int32_t mant, int exp) {
  return exp >= 0 ? mant * (int32_t{1} << exp) : mant >> -exp;
}

// Accumulated synaptic input to the 16-bit a_in: saturating, see
// docs/chip-model.md for why saturation rather than wrap.
inline int32_t SaturateActivation(int64_t a) {
  return static_cast<int32_t>(std::clamp<int64_t>(a, kActivationMin, kActivationMax));
}

// Beyond this magnitude a scaled table sum can only ever saturate a_in, so it
// is clamped here to keep later sums and shifts far from int64 overflow.
inline constexpr int64_t kScaledSumLimit = int64_t{1} << 40;

// A table's summed input scaled by its weight exponent: exp >= 0 ? a << exp :
// a >> -exp (arithmetic, floors). `storage_shift` undoes the compression of
// weights stored as w >> storage_shift (exact: all had those low bits zero).
inline int64_t ScaleTableSum(int64_t a, int storage_shift, int weight_exp) {
  const int shift = storage_shift + weight_exp;
  if (shift >= 0) {
    // Anything past `pre` lands past the limit after the shift anyway.
    const int64_t pre = (kScaledSumLimit >> shift) + 1;
    a = std::clamp(a, -pre, pre);
    return std::clamp(a * (int64_t{1} << shift), -kScaledSumLimit, kScaledSumLimit);
  }
  // Multiply back the stored low bits first, then floor by the exponent: the
  // same as flooring the sum of the full weights. Only graded sums with huge
  // payloads come near the pre-clamp.
  constexpr int64_t kPre = int64_t{1} << 54;
  a = std::clamp(a, -kPre, kPre) * (int64_t{1} << storage_shift);
  return std::clamp(a >> -weight_exp, -kScaledSumLimit, kScaledSumLimit);
}

// Parameters of one CUBA LIF compartment as the update loop uses them.
struct LifConstants {
  int32_t decay_u = 0;        // 4096 - (du + 1)
  int32_t decay_v = 0;        // 4096 - dv
  int32_t vth_effective = 0;  // vth << 6
};

inline LifConstants MakeLifConstants(uint32_t du, uint32_t dv, uint32_t vth) {
  LifConstants c;
  c.decay_u = kDecayOne - (static_cast<int32_t>(du) + 1);
  c.decay_v = kDecayOne - static_cast<int32_t>(dv);
  c.vth_effective = static_cast<int32_t>(vth) << kThresholdShift;
  return c;
}

// One timestep of one CUBA LIF compartment. Returns whether it fired (v is
// then 0; u is never reset).
inline bool LifStep(const LifConstants& c, int32_t a_in, int32_t bias_effective, int32_t* u,
                    int32_t* v) {
  *u = WrapCurrent(DecayTowardZero(*u, c.decay_u) + a_in * (int32_t{1} << kActivationShift));
  *v = ClampVoltage(DecayTowardZero(*v, c.decay_v) + *u + bias_effective);
  if (*v > c.vth_effective) {
    *v = 0;
    return true;
  }
  return false;
}

}  // namespace spk::sim

#endif  // SPK_SIM_FIXED_POINT_H_
