// Random valid modules for round-trip and fuzz tests (test-only library).
//
// A module built from a seed: constants of every element type with awkward
// values (-0.0, denormals, extremes), ops of many kinds wired at random with
// shapes that fit (built through shape inference, so the result verifies),
// free-form annotation attributes of every kind, and locations with strings
// that need escaping. The same seed always gives the same module.
#ifndef SPK_COMPILER_IR_RANDOM_MODULE_H_
#define SPK_COMPILER_IR_RANDOM_MODULE_H_

#include <cstdint>
#include <memory>

#include "compiler/ir/module.h"

namespace spk::compiler::ir::testing {

struct RandomModuleOptions {
  int num_ops = 40;  // ops to attempt after the inputs
  int max_dim = 5;   // largest random dim
};

std::unique_ptr<Module> RandomModule(uint64_t seed, const RandomModuleOptions& options = {});

}  // namespace spk::compiler::ir::testing

#endif  // SPK_COMPILER_IR_RANDOM_MODULE_H_
