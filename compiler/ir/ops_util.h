// Helpers shared by the op definitions (ops_frontend.cc, ops_lowered.cc) and
// their fold functions. Internal to compiler/ir.
#ifndef SPK_COMPILER_IR_OPS_UTIL_H_
#define SPK_COMPILER_IR_OPS_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compiler/ir/constant.h"
#include "compiler/ir/op_registry.h"
#include "compiler/ir/types.h"

namespace spk::compiler::ir::internal {

// Bounds that keep shape arithmetic far from overflow.
inline constexpr double kMaxWindow = 1 << 20;  // kernel, stride, padding, dilation, groups
inline constexpr double kMaxDimIndex = 64;     // |dim| attributes

inline Status ShapeError(std::string message) { return InvalidArgumentError(message); }

// Normalises a PyTorch-style dim index (negative counts from the end) against
// `rank`; nullopt when out of range.
std::optional<int> NormalizeDim(int64_t dim, int rank);

// Per-step dim index for a full-rank (PyTorch) dim of `type`; error when it
// is out of range or names the time dimension.
StatusOr<int> StepDim(const Type& type, int64_t dim, std::string_view attr);

// The constant named by `attr` (absent is OK when !required), checked to have
// an element type in `elements` and, if rank >= 0, that rank.
StatusOr<const Constant*> GetConstant(const InferContext& ctx, std::string_view attr, bool required,
                                      ElementMask elements, int rank);

// Numpy broadcasting of two shapes (right-aligned, equal or 1).
std::optional<std::vector<int64_t>> BroadcastDims(const std::vector<int64_t>& a,
                                                  const std::vector<int64_t>& b);

// Output size of a convolution or pooling window along one axis; nullopt
// when the window does not fit.
std::optional<int64_t> WindowOutSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                     int64_t dilation, bool ceil_mode);

std::vector<int64_t> IntListOr(const AttrDict& attrs, std::string_view name,
                               std::vector<int64_t> fallback);

// Result type of a 2-D convolution over per-step [B, C, H, W] with a
// [O, C/groups, kh, kw] weight, with stride/padding/dilation/groups attrs.
StatusOr<std::vector<int64_t>> Conv2dDims(const InferContext& ctx, const Type& x,
                                          const Constant& weight, bool allow_dilation);

}  // namespace spk::compiler::ir::internal

#endif  // SPK_COMPILER_IR_OPS_UTIL_H_
