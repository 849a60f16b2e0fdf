// Golden CUBA LIF traces worked out by hand from the equations in
// facts/chip.md; each expected number has its arithmetic beside it.
#include "sim/fixed_point.h"

#include <gtest/gtest.h>

#include <vector>

namespace spk::sim {
namespace {

struct Trace {
  int32_t u;
  int32_t v;
  bool spike;
};

std::vector<Trace> RunLif(uint32_t du, uint32_t dv, uint32_t vth, int32_t bias, int32_t u,
                          int32_t v, const std::vector<int32_t>& a_in) {
  const LifConstants c = MakeLifConstants(du, dv, vth);
  std::vector<Trace> out;
  for (int32_t a : a_in) {
    const bool s = LifStep(c, a, bias, &u, &v);
    out.push_back({u, v, s});
  }
  return out;
}

void ExpectTrace(const std::vector<Trace>& got, const std::vector<Trace>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].u, want[i].u) << "step " << i;
    EXPECT_EQ(got[i].v, want[i].v) << "step " << i;
    EXPECT_EQ(got[i].spike, want[i].spike) << "step " << i;
  }
}

TEST(FixedPointTest, DecayRoundsTowardZero) {
  EXPECT_EQ(DecayTowardZero(1000, 4095), 999);    // 4095000 / 4096 = 999.76
  EXPECT_EQ(DecayTowardZero(-1000, 4095), -999);  // floor would give -1000
  EXPECT_EQ(DecayTowardZero(-1, 4095), 0);
  EXPECT_EQ(DecayTowardZero(-4096, 1), -1);
  EXPECT_EQ(DecayTowardZero(-4097, 1), -1);
  EXPECT_EQ(DecayTowardZero(8388608, 4096), 8388608);
}

// The 32-bit computation against the 64-bit definition over the whole range
// of u and v (|x| <= 2^23) and of the factors (0..4096).
TEST(FixedPointTest, DecayMatchesThe64BitDefinition) {
  auto reference = [](int32_t x, int32_t f) {
    const int64_t p = int64_t{x} * f;
    return static_cast<int32_t>(p >= 0 ? p >> 12 : -((-p) >> 12));
  };
  const int32_t edges[] = {0,    1,     -1,       4095,      -4095,        4096,         -4096,
                           4097, -4097, kUvLimit, -kUvLimit, kUvLimit - 1, -kUvLimit + 1};
  const int32_t factors[] = {0, 1, 2, 2047, 2048, 3685, 4095, 4096};
  for (int32_t x : edges) {
    for (int32_t f : factors) EXPECT_EQ(DecayTowardZero(x, f), reference(x, f)) << x << " " << f;
  }
  uint64_t state = 1;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int32_t x = static_cast<int32_t>((state >> 16) % (2 * uint64_t{kUvLimit} + 1)) - kUvLimit;
    const int32_t f = static_cast<int32_t>((state >> 45) % 4097);
    ASSERT_EQ(DecayTowardZero(x, f), reference(x, f)) << x << " " << f;
  }
}

TEST(FixedPointTest, CurrentWrapsOnceNotModulo) {
  EXPECT_EQ(WrapCurrent(kUvLimit), kUvLimit);  // exactly +2^23 stays
  EXPECT_EQ(WrapCurrent(kUvLimit + 1), -kUvLimit + 1);
  EXPECT_EQ(WrapCurrent(-kUvLimit), kUvLimit);  // exactly -2^23 becomes +2^23
  EXPECT_EQ(WrapCurrent(-kUvLimit + 1), -kUvLimit + 1);
  EXPECT_EQ(WrapCurrent(-kUvLimit - 5), kUvLimit - 5);
}

TEST(FixedPointTest, BiasExponentShiftsBothWays) {
  EXPECT_EQ(EffectiveBias(3, 2), 12);
  EXPECT_EQ(EffectiveBias(-3, 2), -12);
  EXPECT_EQ(EffectiveBias(7, -2), 1);    // 7 >> 2
  EXPECT_EQ(EffectiveBias(-5, -1), -3);  // arithmetic shift floors
  EXPECT_EQ(EffectiveBias(-7, -2), -2);
  EXPECT_EQ(EffectiveBias(4095, 7), 524160);
}

TEST(FixedPointTest, TableSumScaling) {
  EXPECT_EQ(ScaleTableSum(3, 0, 2), 12);
  EXPECT_EQ(ScaleTableSum(5, 0, -1), 2);
  EXPECT_EQ(ScaleTableSum(-5, 0, -1), -3);  // floors
  EXPECT_EQ(ScaleTableSum(-22, 0, -2), -6);
  // Stored int8 with storage_shift 1: the sum of w/2 values; -5 * 2 = -10 >> 2 = -3.
  EXPECT_EQ(ScaleTableSum(-5, 1, -2), -3);
  EXPECT_EQ(ScaleTableSum(-5, 1, 3), -80);
  // Clamped far beyond anything a 16-bit a_in can hold.
  EXPECT_EQ(ScaleTableSum(int64_t{1} << 50, 0, 15), kScaledSumLimit);
  EXPECT_EQ(ScaleTableSum(-(int64_t{1} << 62), 8, -1), -kScaledSumLimit);
}

TEST(FixedPointTest, ActivationSaturatesTo16Bits) {
  EXPECT_EQ(SaturateActivation(40000), 32767);
  EXPECT_EQ(SaturateActivation(-40000), -32768);
  EXPECT_EQ(SaturateActivation(-32768), -32768);
  EXPECT_EQ(SaturateActivation(123), 123);
}

// du = 410 -> u *= 3685/4096; dv = 205 -> v *= 3891/4096; vth = 10 -> fires above 640.
TEST(LifTraceTest, DecayFireAndCurrentKeptAfterSpike) {
  ExpectTrace(
      RunLif(410, 205, 10, 0, 0, 0, {5, 0, 0, 3, 0}),
      {
          {320, 320, false},  // u = 5 << 6; v = 0 + 320
          {287, 590, false},  // u = 320*3685/4096 = 287.9; v = 320*3891/4096 = 303.9 -> 303 + 287
          {258, 0, true},     // u = 287*3685/4096 = 258.2; v = 560 + 258 = 818 > 640
          {424, 424, false},  // u = 258*3685/4096 = 232.1 -> 232 + 192; v = 0 + 424
          {381, 0, true},     // u = 381.4; v = 424*3891/4096 = 402.8 -> 402 + 381 = 783
      });
}

TEST(LifTraceTest, NegativeValuesRoundTowardZero) {
  // du = 0 still decays u by 4095/4096 (the offset of one); dv = 0 keeps v.
  ExpectTrace(RunLif(0, 0, 100, 0, -1000, 0, {0, 0}),
              {
                  {-999, -999, false},   // -1000*4095/4096 = -999.76 -> -999, not -1000
                  {-998, -1997, false},  // -999*4095/4096 = -998.76 -> -998; v = -999 - 998
              });
}

TEST(LifTraceTest, CurrentWrapsAt24Bits) {
  // u = 8388000*4095/4096 = 8385952.1 -> 8385952; + 100 << 6 = 8392352 > 2^23 -> - 2^24.
  ExpectTrace(RunLif(0, 0, 131071, 0, 8388000, 0, {100}), {{-8384864, -8384864, false}});
  // u = 8384255*4095/4096 = 8382208.06 -> 8382208; + 6400 = 2^23 exactly: stays. v
  // saturates at 2^23 - 1, which is above the largest threshold 131071 << 6.
  ExpectTrace(RunLif(0, 4095, 131071, 0, 8384255, 0, {100}), {{8388608, 0, true}});
  // The mirror: -8382208 - 6400 = -2^23 exactly, which wraps to +2^23.
  ExpectTrace(RunLif(0, 4095, 131071, 0, -8384255, 0, {-100}), {{8388608, 0, true}});
}

TEST(LifTraceTest, VoltageSaturates) {
  // du = 4095 clears u before the input: u = -1000 << 6 = -64000; v = -8388000 - 64000
  // -> -(2^23 - 1).
  ExpectTrace(RunLif(4095, 0, 131071, 0, 0, -8388000, {-1000}), {{-64000, -8388607, false}});
  // Upward v saturates to 8388607 > 8388544 = 131071 << 6 and fires.
  ExpectTrace(RunLif(4095, 0, 131071, 0, 0, 8388000, {1000}), {{64000, 0, true}});
}

TEST(LifTraceTest, DuMaxClearsCurrentAndDvZeroKeepsVoltage) {
  ExpectTrace(RunLif(4095, 0, 100, 0, 5000, 0, {0}), {{0, 0, false}});
  ExpectTrace(RunLif(4095, 0, 100, 0, 0, 1000, {0, 0, 0}),
              {{0, 1000, false}, {0, 1000, false}, {0, 1000, false}});
}

TEST(LifTraceTest, BiasWithExponentIntegrates) {
  // bias_mant 3, bias_exp 2: 12 per step into v (dv = 0, no leak).
  ExpectTrace(RunLif(4095, 0, 1, EffectiveBias(3, 2), 0, 0, {0, 0, 0, 0, 0, 0}),
              {{0, 12, false},
               {0, 24, false},
               {0, 36, false},
               {0, 48, false},
               {0, 60, false},
               {0, 0, true}});  // 72 > 64
}

TEST(LifTraceTest, ThresholdIsStrict) {
  // vth = 1 -> 64. a_in = 1 gives v = 64 exactly: no spike; the next step 128 fires.
  ExpectTrace(RunLif(4095, 0, 1, 0, 0, 0, {1, 1, 0}),
              {{64, 64, false}, {64, 0, true}, {0, 0, false}});
  // vth = 0 fires on any positive voltage.
  ExpectTrace(RunLif(4095, 0, 0, 0, 0, 0, {0, 1, -1}),
              {{0, 0, false}, {64, 0, true}, {-64, -64, false}});
}

}  // namespace
}  // namespace spk::sim
