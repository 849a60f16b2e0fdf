#include "sim/neuron.h"

#include <cstddef>
#include <vector>

#include "sim/simd.h"

namespace spk::sim {
namespace {

using hal::format::NeuronModel;

// u and v of every compartment, without the threshold: straight loops over
// arrays that the compiler vectorises (the bias branch is hoisted out).
// Returns how many inputs were non-zero.
template <bool kBias>
inline __attribute__((always_inline)) uint64_t LifIntegrateBody(const LifConstants c,
                                                                const int32_t* __restrict a_in,
                                                                const int32_t* __restrict bias,
                                                                int32_t* __restrict u,
                                                                int32_t* __restrict v, size_t n) {
  uint64_t nonzero = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t nu = WrapCurrent(DecayTowardZero(u[i], c.decay_u) + a_in[i] * 64);
    u[i] = nu;
    v[i] = ClampVoltage(DecayTowardZero(v[i], c.decay_v) + nu + (kBias ? bias[i] : 0));
    nonzero += a_in[i] != 0;
  }
  return nonzero;
}

SPK_SIM_VECTOR_CLONES
uint64_t LifIntegrate(const LifConstants c, const int32_t* a_in, const int32_t* bias, int32_t* u,
                      int32_t* v, size_t n) {
  return bias ? LifIntegrateBody<true>(c, a_in, bias, u, v, n)
              : LifIntegrateBody<false>(c, a_in, bias, u, v, n);
}

template <bool kBias>
inline __attribute__((always_inline)) uint64_t AccumulatorIntegrateBody(
    int32_t decay_v, const int32_t* __restrict a_in, const int32_t* __restrict bias,
    int32_t* __restrict v, size_t n) {
  uint64_t nonzero = 0;
  for (size_t i = 0; i < n; ++i) {
    v[i] = ClampVoltage(DecayTowardZero(v[i], decay_v) + a_in[i] + (kBias ? bias[i] : 0));
    nonzero += a_in[i] != 0;
  }
  return nonzero;
}

SPK_SIM_VECTOR_CLONES
uint64_t AccumulatorIntegrate(int32_t decay_v, const int32_t* a_in, const int32_t* bias, int32_t* v,
                              size_t n) {
  return bias ? AccumulatorIntegrateBody<true>(decay_v, a_in, bias, v, n)
              : AccumulatorIntegrateBody<false>(decay_v, a_in, bias, v, n);
}

// Appends the indices of v > vth to `out` without a branch per neuron: most
// steps most neurons do not fire, and mispredicted branches cost more than
// the stores.
void CompactAbove(const int32_t* v, int32_t vth, size_t n, std::vector<uint32_t>* out) {
  const size_t base = out->size();
  out->resize(base + n);
  uint32_t* idx = out->data() + base;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    idx[count] = static_cast<uint32_t>(i);
    count += v[i] > vth;
  }
  out->resize(base + count);
}

void Emit(const GroupParams& params, uint32_t i, int32_t payload, SpikeList* out) {
  out->index.push_back(i);
  if (params.graded) out->payload.push_back(payload);
}

}  // namespace

SPK_SIM_VECTOR_CLONES
void TakeInput(int64_t* __restrict accumulator, int32_t* __restrict a_in, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    a_in[i] = SaturateActivation(accumulator[i]);
    accumulator[i] = 0;
  }
}

GroupStepResult UpdateGroup(const GroupParams& params, const int32_t* a_in0, const int32_t* a_in1,
                            GroupState* state, SpikeList* out) {
  GroupStepResult result;
  const size_t n = params.size;
  const int32_t* bias = params.bias.empty() ? nullptr : params.bias.data();
  int32_t* u = state->u.data();
  int32_t* v = state->v.data();
  switch (params.model) {
    case NeuronModel::kCubaLif: {
      const uint64_t nonzero = LifIntegrate(params.lif, a_in0, bias, u, v, n);
      const size_t first = out->index.size();
      CompactAbove(v, params.lif.vth_effective, n, &out->index);
      uint64_t fired_without_input = 0;
      for (size_t k = first; k < out->index.size(); ++k) {
        const uint32_t i = out->index[k];
        v[i] = 0;
        fired_without_input += a_in0[i] == 0;
      }
      if (params.graded) out->payload.resize(out->index.size(), 1);
      result.active = nonzero + fired_without_input;
      break;
    }
    case NeuronModel::kAccumulator:
      result.active = AccumulatorIntegrate(params.lif.decay_v, a_in0, bias, v, n);
      break;
    case NeuronModel::kAnd2:
      for (size_t i = 0; i < n; ++i) {
        const bool any = a_in0[i] != 0 || a_in1[i] != 0;
        result.active += any;
        if (a_in0[i] != 0 && a_in1[i] != 0) Emit(params, static_cast<uint32_t>(i), 1, out);
      }
      break;
    case NeuronModel::kRelay:
      for (size_t i = 0; i < n; ++i) {
        v[i] = a_in0[i];
        if (a_in0[i] != 0) {
          ++result.active;
          Emit(params, static_cast<uint32_t>(i), a_in0[i], out);
        }
      }
      break;
  }
  return result;
}

}  // namespace spk::sim
