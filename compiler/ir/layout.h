// Element order of the layout ops (reshape, flatten, permute, transpose), as
// index maps. Shared by codegen, which folds layout ops into synapse index
// maps, and lowering, which composes them into synapse tables.
#ifndef SPK_COMPILER_IR_LAYOUT_H_
#define SPK_COMPILER_IR_LAYOUT_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "compiler/ir/module.h"

namespace spk::compiler::ir {

// The per-step dim permutation a layout op applies: output dim k is input
// dim perm[k]. Identity for reshape and flatten, which keep row-major order.
// The op's attributes must have been verified.
std::vector<int> StepPermutation(const Operation& op);
// The same for an op of `kind` ("permute", "transpose", or a layout op that
// keeps order) with `attrs`, reading `in` (a host op names its kind apart).
std::vector<int> StepPermutation(const Type& in, std::string_view kind, const AttrDict& attrs);

// Output element -> input element of permuting a row-major tensor of
// `in_dims` by `perm` (as StepPermutation gives it).
std::vector<uint32_t> PermuteMap(const std::vector<int64_t>& in_dims, const std::vector<int>& perm);

bool IsIdentityPermutation(const std::vector<int>& perm);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_LAYOUT_H_
