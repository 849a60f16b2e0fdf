#include "compiler/ir/ops_util.h"

#include "compiler/ir/module.h"

namespace spk::compiler::ir::internal {

std::optional<int> NormalizeDim(int64_t dim, int rank) {
  if (dim < -rank || dim >= rank) return std::nullopt;
  return static_cast<int>(dim < 0 ? dim + rank : dim);
}

StatusOr<int> StepDim(const Type& type, int64_t dim, std::string_view attr) {
  auto d = NormalizeDim(dim, type.full_rank());
  if (!d) {
    return ShapeError(std::string(attr) + " = " + std::to_string(dim) + " is out of range for " +
                      type.ToString());
  }
  if (type.timed()) {
    if (*d == 0) {
      return ShapeError(std::string(attr) + " = " + std::to_string(dim) +
                        " names the time dimension of " + type.ToString() +
                        "; time cannot be moved or merged");
    }
    return *d - 1;
  }
  return *d;
}

StatusOr<const Constant*> GetConstant(const InferContext& ctx, std::string_view attr, bool required,
                                      ElementMask elements, int rank) {
  SPK_ASSIGN_OR_RETURN(const Constant* c, ctx.RefConstant(attr));
  if (c == nullptr) {
    if (required) return ShapeError("missing constant attribute '" + std::string(attr) + "'");
    return c;
  }
  if ((elements & MaskOf(c->type().element())) == 0 || (rank >= 0 && c->type().rank() != rank)) {
    std::string want = rank >= 0 ? "rank-" + std::to_string(rank) + " " : "";
    want += DescribeConstraint(TypeConstraint{elements, TimeReq::kAny});
    return ShapeError(std::string(attr) + " @" + c->name() + " must be a " + want +
                      " constant, got " + c->type().ToString());
  }
  return c;
}

std::optional<std::vector<int64_t>> BroadcastDims(const std::vector<int64_t>& a,
                                                  const std::vector<int64_t>& b) {
  size_t n = std::max(a.size(), b.size());
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

std::optional<int64_t> WindowOutSize(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                     int64_t dilation, bool ceil_mode) {
  int64_t span = dilation * (kernel - 1) + 1;
  int64_t room = in + 2 * pad - span;
  if (room < 0 || stride <= 0) return std::nullopt;
  int64_t out = room / stride + 1;
  if (ceil_mode && room % stride != 0) {
    ++out;
    // The last window must start inside the input or its left padding.
    if ((out - 1) * stride >= in + pad) --out;
  }
  return out;
}

std::vector<int64_t> IntListOr(const AttrDict& attrs, std::string_view name,
                               std::vector<int64_t> fallback) {
  const std::vector<int64_t>* v = attrs.GetIntList(name);
  return v != nullptr ? *v : fallback;
}

StatusOr<std::vector<int64_t>> Conv2dDims(const InferContext& ctx, const Type& x,
                                          const Constant& weight, bool allow_dilation) {
  if (x.rank() != 4) {
    return ShapeError("input must be [B,C,H,W] per step, got " + x.ToString());
  }
  const auto& w = weight.type().dims();
  int64_t groups = ctx.attrs.GetInt("groups").value_or(1);
  auto stride = IntListOr(ctx.attrs, "stride", {1, 1});
  auto padding = IntListOr(ctx.attrs, "padding", {0, 0});
  auto dilation =
      allow_dilation ? IntListOr(ctx.attrs, "dilation", {1, 1}) : std::vector<int64_t>{1, 1};
  int64_t c = x.dim(1);
  if (c % groups != 0 || w[0] % groups != 0) {
    return ShapeError("groups = " + std::to_string(groups) + " must divide the input channels (" +
                      std::to_string(c) + ") and the output channels (" + std::to_string(w[0]) +
                      ")");
  }
  if (w[1] != c / groups) {
    return ShapeError("weight @" + weight.name() + " " + weight.type().ToString() + " expects " +
                      std::to_string(w[1] * groups) + " input channels, the input has " +
                      std::to_string(c));
  }
  std::vector<int64_t> out = {x.dim(0), w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    auto size = WindowOutSize(x.dim(2 + i), w[2 + static_cast<size_t>(i)], stride[i], padding[i],
                              dilation[i], false);
    if (!size || *size < 1) {
      return ShapeError("kernel " + FormatDims({w[2], w[3]}) + " does not fit input " +
                        x.ToString() + " with padding " + FormatDims(padding));
    }
    out[2 + static_cast<size_t>(i)] = *size;
  }
  return out;
}

}  // namespace spk::compiler::ir::internal
