// Every neuron module's spikes in PyTorch on the first samples of the digits
// test split, as python/gen_fixtures.py writes them (<model>.probes.bin;
// the layout is in python/spk_models/data.py, write_probes_bin): what the
// per-layer spike agreement of a compiled model is measured against.
#ifndef SPK_TESTS_SUPPORT_PROBES_H_
#define SPK_TESTS_SUPPORT_PROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace spk::testing {

struct ProbeLayer {
  std::string name;             // module path, e.g. "blocks.0.attn.q_lif"
  std::vector<uint32_t> dims;   // of one sample: [T, ...]
  std::vector<uint8_t> spikes;  // samples x prod(dims), 0 or 1

  uint64_t per_sample() const;
};

struct Probes {
  uint32_t samples = 0;
  std::vector<ProbeLayer> layers;
};

// INVALID_ARGUMENT naming the file and what is wrong with it.
StatusOr<Probes> ReadProbes(const std::string& path);

}  // namespace spk::testing

#endif  // SPK_TESTS_SUPPORT_PROBES_H_
