// The vectorised group update against the scalar LifStep it must equal.
#include "sim/neuron.h"

#include <gtest/gtest.h>

#include <vector>

#include "sim/fixed_point.h"
#include "sim/sim_test_util.h"

namespace spk::sim {
namespace {

using hal::format::NeuronModel;
using testing::TestRng;

TEST(NeuronTest, GroupUpdateEqualsScalarLifStep) {
  TestRng rng(17);
  for (int trial = 0; trial < 50; ++trial) {
    GroupParams p;
    p.model = NeuronModel::kCubaLif;
    p.size = static_cast<uint32_t>(rng.Uniform(1, 300));
    p.lif = MakeLifConstants(static_cast<uint32_t>(rng.Uniform(0, 4095)),
                             static_cast<uint32_t>(rng.Uniform(0, 4095)),
                             static_cast<uint32_t>(rng.Uniform(0, 131071 / (trial % 5 + 1))));
    const int bias_exp = static_cast<int>(rng.Uniform(-7, 7));
    if (trial % 2) {
      for (uint32_t i = 0; i < p.size; ++i) {
        p.bias.push_back(EffectiveBias(static_cast<int32_t>(rng.Uniform(-4096, 4095)), bias_exp));
      }
    }
    GroupState state;
    for (uint32_t i = 0; i < p.size; ++i) {
      state.u.push_back(static_cast<int32_t>(rng.Uniform(-kUvLimit + 1, kUvLimit)));
      state.v.push_back(static_cast<int32_t>(rng.Uniform(-kVoltageMax, kVoltageMax)));
    }
    GroupState scalar = state;
    for (int step = 0; step < 20; ++step) {
      std::vector<int32_t> a_in(p.size);
      for (auto& a : a_in)
        a = rng.Chance(0.3) ? static_cast<int32_t>(rng.Uniform(-32768, 32767)) : 0;
      SpikeList out;
      UpdateGroup(p, a_in.data(), nullptr, &state, &out);
      std::vector<uint32_t> fired;
      for (uint32_t i = 0; i < p.size; ++i) {
        if (LifStep(p.lif, a_in[i], p.bias.empty() ? 0 : p.bias[i], &scalar.u[i], &scalar.v[i])) {
          fired.push_back(i);
        }
      }
      ASSERT_EQ(state.u, scalar.u) << "trial " << trial << " step " << step;
      ASSERT_EQ(state.v, scalar.v) << "trial " << trial << " step " << step;
      ASSERT_EQ(out.index, fired) << "trial " << trial << " step " << step;
    }
  }
}

TEST(NeuronTest, TakeInputSaturatesAndClears) {
  std::vector<int64_t> acc = {40000, -40000, 5, 0, -32768, int64_t{1} << 40};
  std::vector<int32_t> a_in(acc.size());
  TakeInput(acc.data(), a_in.data(), acc.size());
  EXPECT_EQ(a_in, (std::vector<int32_t>{32767, -32768, 5, 0, -32768, 32767}));
  EXPECT_EQ(acc, std::vector<int64_t>(acc.size(), 0));
}

}  // namespace
}  // namespace spk::sim
