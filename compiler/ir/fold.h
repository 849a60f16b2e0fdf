// Constant folding kernels for the ops that define a FoldFn. Internal to
// compiler/ir; the constant-fold pass reaches them through OpDef::fold.
//
// Float results use float32 arithmetic as PyTorch does on CPU: integer inputs
// are converted to float first, a float scalar attribute is rounded to float
// before it multiplies. Integer results are computed exactly and do not fold
// (UNIMPLEMENTED) when they leave the int32 range.
#ifndef SPK_COMPILER_IR_FOLD_H_
#define SPK_COMPILER_IR_FOLD_H_

#include <span>

#include "base/status.h"
#include "compiler/ir/constant.h"
#include "compiler/ir/module.h"

namespace spk::compiler::ir::internal {

StatusOr<TensorData> FoldSameData(const Operation& op, std::span<const Constant* const> operands);
StatusOr<TensorData> FoldTranspose(const Operation& op, std::span<const Constant* const> operands);
StatusOr<TensorData> FoldPermute(const Operation& op, std::span<const Constant* const> operands);
StatusOr<TensorData> FoldMulScalar(const Operation& op, std::span<const Constant* const> operands);
StatusOr<TensorData> FoldAdd(const Operation& op, std::span<const Constant* const> operands);
StatusOr<TensorData> FoldMul(const Operation& op, std::span<const Constant* const> operands);

// Permutes a row-major tensor: out dim i is input dim perm[i].
TensorData PermuteTensor(const TensorData& in, const std::vector<int64_t>& in_dims,
                         const std::vector<int>& perm);

}  // namespace spk::compiler::ir::internal

#endif  // SPK_COMPILER_IR_FOLD_H_
