// Frontend-level ops: what the TorchScript frontend produces, close to the
// PyTorch operations they come from. See docs/ir.md for their semantics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "compiler/ir/fold.h"
#include "compiler/ir/module.h"
#include "compiler/ir/op_registry.h"
#include "compiler/ir/ops_util.h"

namespace spk::compiler::ir {
namespace {

using internal::GetConstant;
using internal::kMaxDimIndex;
using internal::kMaxWindow;
using internal::ShapeError;
using internal::StepDim;

constexpr double kInf = std::numeric_limits<double>::infinity();

AttrSpec IntAttr(std::string name, bool required, double min = -kInf, double max = kInf) {
  return AttrSpec{std::move(name), AttrKind::kInt, required, min, max};
}
AttrSpec FloatAttr(std::string name, bool required, double min = -kInf, double max = kInf) {
  return AttrSpec{std::move(name), AttrKind::kFloat, required, min, max};
}
AttrSpec BoolAttr(std::string name) { return AttrSpec{std::move(name), AttrKind::kBool, false}; }
AttrSpec StringAttr(std::string name, bool required) {
  return AttrSpec{std::move(name), AttrKind::kString, required};
}
AttrSpec RefAttr(std::string name, bool required) {
  return AttrSpec{std::move(name), AttrKind::kConstRef, required};
}
AttrSpec IntListAttr(std::string name, bool required, double min, double max, int size = -1) {
  return AttrSpec{std::move(name), AttrKind::kIntList, required, min, max, size};
}

std::vector<Type> One(Type t) { return {std::move(t)}; }

bool Has(ElementType e, const std::vector<Type>& types) {
  return std::any_of(types.begin(), types.end(), [e](const Type& t) { return t.element() == e; });
}

// --- I/O and constants ---

void VerifyUniqueName(const VerifyContext& ctx) {
  const std::string* name = ctx.op.attrs().GetString("name");
  if (name == nullptr) return;
  for (const auto& other : ctx.module.ops()) {
    if (other.get() == &ctx.op) break;  // report on the later one only
    if (other->name() == ctx.op.name() && other->attrs().GetString("name") != nullptr &&
        *other->attrs().GetString("name") == *name) {
      ctx.Error("name \"" + *name + "\" is used by another '" + ctx.op.name() + "'");
      return;
    }
  }
}

void VerifyInput(const VerifyContext& ctx) {
  VerifyUniqueName(ctx);
  if (ctx.op.num_results() == 1 &&
      !Satisfies(ctx.op.result(0)->type(), TypeConstraint{kActivations, TimeReq::kAny})) {
    ctx.Error("result must be spike, graded or f32, got " + ctx.op.result(0)->type().ToString());
  }
}

StatusOr<std::vector<Type>> InferConst(const InferContext& ctx) {
  SPK_ASSIGN_OR_RETURN(const Constant* c, GetConstant(ctx, "value", true, kAnyElement, -1));
  return One(c->type());
}

// --- Linear layers ---

StatusOr<std::vector<Type>> InferLinear(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() < 1) return ShapeError("input must have a feature dim, got " + x.ToString());
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kF32Only, 2));
  SPK_ASSIGN_OR_RETURN(const Constant* b, GetConstant(ctx, "bias", false, kF32Only, 1));
  int64_t out = w->type().dim(0);
  if (w->type().dim(1) != x.dims().back()) {
    return ShapeError("weight @" + w->name() + " " + w->type().ToString() + " takes " +
                      std::to_string(w->type().dim(1)) + " features, the input " + x.ToString() +
                      " has " + std::to_string(x.dims().back()));
  }
  if (b != nullptr && b->type().dim(0) != out) {
    return ShapeError("bias @" + b->name() + " " + b->type().ToString() + " must have " +
                      std::to_string(out) + " elements");
  }
  std::vector<int64_t> dims = x.dims();
  dims.back() = out;
  return One(Type(ElementType::kF32, x.timed(), dims));
}

Status CheckConvBias(const InferContext& ctx, int64_t out_channels) {
  SPK_ASSIGN_OR_RETURN(const Constant* b, GetConstant(ctx, "bias", false, kF32Only, 1));
  if (b != nullptr && b->type().dim(0) != out_channels) {
    return ShapeError("bias @" + b->name() + " " + b->type().ToString() + " must have " +
                      std::to_string(out_channels) + " elements");
  }
  return Status::Ok();
}

StatusOr<std::vector<Type>> InferConv2d(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kF32Only, 4));
  SPK_ASSIGN_OR_RETURN(auto dims, internal::Conv2dDims(ctx, x, *w, /*allow_dilation=*/true));
  SPK_RETURN_IF_ERROR(CheckConvBias(ctx, dims[1]));
  return One(Type(ElementType::kF32, x.timed(), dims));
}

StatusOr<std::vector<Type>> InferConv1d(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() != 3) return ShapeError("input must be [B,C,L] per step, got " + x.ToString());
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kF32Only, 3));
  const auto& wd = w->type().dims();
  int64_t groups = ctx.attrs.GetInt("groups").value_or(1);
  int64_t stride = internal::IntListOr(ctx.attrs, "stride", {1})[0];
  int64_t padding = internal::IntListOr(ctx.attrs, "padding", {0})[0];
  int64_t dilation = internal::IntListOr(ctx.attrs, "dilation", {1})[0];
  if (x.dim(1) % groups != 0 || wd[0] % groups != 0 || wd[1] != x.dim(1) / groups) {
    return ShapeError("weight @" + w->name() + " " + w->type().ToString() + " does not fit input " +
                      x.ToString() + " with groups = " + std::to_string(groups));
  }
  auto len = internal::WindowOutSize(x.dim(2), wd[2], stride, padding, dilation, false);
  if (!len || *len < 1) {
    return ShapeError("kernel " + std::to_string(wd[2]) + " does not fit input " + x.ToString());
  }
  SPK_RETURN_IF_ERROR(CheckConvBias(ctx, wd[0]));
  return One(Type(ElementType::kF32, x.timed(), {x.dim(0), wd[0], *len}));
}

StatusOr<std::vector<Type>> InferBatchNorm(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() < 2) {
    return ShapeError("input must be [B,C,...] per step (channels in dim 1), got " + x.ToString());
  }
  int64_t channels = x.dim(1);
  for (const char* attr : {"mean", "var", "weight", "bias"}) {
    bool required = std::string_view(attr) == "mean" || std::string_view(attr) == "var";
    SPK_ASSIGN_OR_RETURN(const Constant* c, GetConstant(ctx, attr, required, kF32Only, 1));
    if (c != nullptr && c->type().dim(0) != channels) {
      return ShapeError(std::string(attr) + " @" + c->name() + " " + c->type().ToString() +
                        " must have one value per channel (" + std::to_string(channels) + ")");
    }
  }
  return One(Type(ElementType::kF32, x.timed(), x.dims()));
}

// --- Pooling ---

StatusOr<std::vector<int64_t>> PoolDims(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() != 4) return ShapeError("input must be [B,C,H,W] per step, got " + x.ToString());
  auto kernel = internal::IntListOr(ctx.attrs, "kernel_size", {1, 1});
  auto stride = internal::IntListOr(ctx.attrs, "stride", kernel);
  auto padding = internal::IntListOr(ctx.attrs, "padding", {0, 0});
  bool ceil_mode = ctx.attrs.GetBool("ceil_mode").value_or(false);
  std::vector<int64_t> dims = x.dims();
  for (size_t i = 0; i < 2; ++i) {
    if (padding[i] * 2 > kernel[i]) {
      return ShapeError("padding " + FormatDims(padding) + " must be at most half the kernel " +
                        FormatDims(kernel));
    }
    auto size = internal::WindowOutSize(x.dim(2 + static_cast<int>(i)), kernel[i], stride[i],
                                        padding[i], 1, ceil_mode);
    if (!size || *size < 1) {
      return ShapeError("kernel " + FormatDims(kernel) + " does not fit input " + x.ToString());
    }
    dims[2 + i] = *size;
  }
  return dims;
}

StatusOr<std::vector<Type>> InferMaxPool(const InferContext& ctx) {
  SPK_ASSIGN_OR_RETURN(auto dims, PoolDims(ctx));
  return One(ctx.operands[0].WithDims(dims));
}

StatusOr<std::vector<Type>> InferAvgPool(const InferContext& ctx) {
  SPK_ASSIGN_OR_RETURN(auto dims, PoolDims(ctx));
  return One(Type(ElementType::kF32, ctx.operands[0].timed(), dims));
}

// --- Layout ---

StatusOr<std::vector<Type>> InferFlatten(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.full_rank() == 0) return One(x.WithDims({1}));
  if (x.rank() == 0) return ShapeError("cannot flatten " + x.ToString() + ": time cannot merge");
  SPK_ASSIGN_OR_RETURN(int start, StepDim(x, *ctx.attrs.GetInt("start_dim"), "start_dim"));
  SPK_ASSIGN_OR_RETURN(int end, StepDim(x, ctx.attrs.GetInt("end_dim").value_or(-1), "end_dim"));
  if (start > end) return ShapeError("start_dim comes after end_dim");
  std::vector<int64_t> dims(x.dims().begin(), x.dims().begin() + start);
  int64_t merged = 1;
  for (int i = start; i <= end; ++i) merged *= x.dim(i);
  dims.push_back(merged);
  dims.insert(dims.end(), x.dims().begin() + end + 1, x.dims().end());
  return One(x.WithDims(dims));
}

StatusOr<std::vector<Type>> InferReshape(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  std::vector<int64_t> shape = *ctx.attrs.GetIntList("shape");
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) return ShapeError("shape may contain at most one -1");
      inferred = static_cast<int>(i);
    } else {
      known *= shape[i];
      if (known > kMaxElements) return ShapeError("shape " + FormatDims(shape) + " is too large");
    }
  }
  int64_t total = x.num_elements();
  if (inferred >= 0) {
    if (known == 0 || total % known != 0) {
      return ShapeError("cannot reshape " + x.ToString() + " to " + FormatDims(shape));
    }
    shape[static_cast<size_t>(inferred)] = total / known;
  } else if (known != total) {
    return ShapeError("cannot reshape " + x.ToString() + " (" + std::to_string(total) +
                      " elements per step) to " + FormatDims(shape));
  }
  return One(x.WithDims(shape));
}

StatusOr<std::vector<Type>> InferPermute(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  const auto& perm = *ctx.attrs.GetIntList("dims");
  int rank = x.full_rank();
  if (static_cast<int>(perm.size()) != rank) {
    return ShapeError("dims " + FormatDims(perm) + " must list all " + std::to_string(rank) +
                      " dims of " + x.ToString());
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  std::vector<int> norm;
  for (int64_t d : perm) {
    auto n = internal::NormalizeDim(d, rank);
    if (!n || seen[static_cast<size_t>(*n)]) {
      return ShapeError("dims " + FormatDims(perm) + " is not a permutation of " +
                        std::to_string(rank) + " dims");
    }
    seen[static_cast<size_t>(*n)] = true;
    norm.push_back(*n);
  }
  if (x.timed() && norm[0] != 0) {
    return ShapeError("dims " + FormatDims(perm) + " moves the time dimension of " + x.ToString());
  }
  std::vector<int64_t> dims;
  for (size_t i = x.timed() ? 1 : 0; i < norm.size(); ++i) {
    dims.push_back(x.dim(norm[i] - (x.timed() ? 1 : 0)));
  }
  return One(x.WithDims(dims));
}

StatusOr<std::vector<Type>> InferTranspose(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  SPK_ASSIGN_OR_RETURN(int d0, StepDim(x, *ctx.attrs.GetInt("dim0"), "dim0"));
  SPK_ASSIGN_OR_RETURN(int d1, StepDim(x, *ctx.attrs.GetInt("dim1"), "dim1"));
  std::vector<int64_t> dims = x.dims();
  std::swap(dims[static_cast<size_t>(d0)], dims[static_cast<size_t>(d1)]);
  return One(x.WithDims(dims));
}

StatusOr<std::vector<Type>> InferRepeatT(const InferContext& ctx) {
  return One(ctx.operands[0].WithTimed(true));
}

// --- Arithmetic ---

StatusOr<Type> Broadcast(const InferContext& ctx, ElementType element) {
  const Type& a = ctx.operands[0];
  const Type& b = ctx.operands[1];
  auto dims = internal::BroadcastDims(a.dims(), b.dims());
  if (!dims) {
    return ShapeError("shapes " + a.ToString() + " and " + b.ToString() + " do not broadcast");
  }
  return Type(element, a.timed() || b.timed(), *dims);
}

// f32 if any operand is real, else graded if any is an event, else i32.
ElementType ArithmeticElement(const std::vector<Type>& types) {
  if (Has(ElementType::kF32, types)) return ElementType::kF32;
  if (Has(ElementType::kSpike, types) || Has(ElementType::kGraded, types)) {
    return ElementType::kGraded;
  }
  return ElementType::kI32;
}

StatusOr<std::vector<Type>> InferAdd(const InferContext& ctx) {
  std::vector<Type> types(ctx.operands.begin(), ctx.operands.end());
  SPK_ASSIGN_OR_RETURN(Type t, Broadcast(ctx, ArithmeticElement(types)));
  return One(t);
}

StatusOr<std::vector<Type>> InferMul(const InferContext& ctx) {
  std::vector<Type> types(ctx.operands.begin(), ctx.operands.end());
  ElementType e = ArithmeticElement(types);
  // A product of binary spikes is binary: an AND.
  if (ctx.operands[0].element() == ElementType::kSpike &&
      ctx.operands[1].element() == ElementType::kSpike) {
    e = ElementType::kSpike;
  }
  SPK_ASSIGN_OR_RETURN(Type t, Broadcast(ctx, e));
  return One(t);
}

StatusOr<std::vector<Type>> InferMulScalar(const InferContext& ctx) {
  return One(ctx.operands[0].WithElement(ElementType::kF32));
}

StatusOr<std::vector<Type>> InferMatmul(const InferContext& ctx) {
  const Type& a = ctx.operands[0];
  const Type& b = ctx.operands[1];
  if (a.rank() < 2 || b.rank() < 2) {
    return ShapeError("operands must have at least 2 dims per step, got " + a.ToString() + " and " +
                      b.ToString());
  }
  bool transpose_b = ctx.attrs.GetBool("transpose_b").value_or(false);
  int64_t m = a.dim(a.rank() - 2), k = a.dim(a.rank() - 1);
  int64_t kb = b.dim(b.rank() - (transpose_b ? 1 : 2));
  int64_t n = b.dim(b.rank() - (transpose_b ? 2 : 1));
  if (k != kb) {
    return ShapeError("inner dims differ: " + a.ToString() + " @ " + b.ToString() +
                      (transpose_b ? "^T" : ""));
  }
  std::vector<int64_t> batch_a(a.dims().begin(), a.dims().end() - 2);
  std::vector<int64_t> batch_b(b.dims().begin(), b.dims().end() - 2);
  auto batch = internal::BroadcastDims(batch_a, batch_b);
  if (!batch) {
    return ShapeError("batch dims of " + a.ToString() + " and " + b.ToString() +
                      " do not broadcast");
  }
  batch->push_back(m);
  batch->push_back(n);
  std::vector<Type> types(ctx.operands.begin(), ctx.operands.end());
  return One(Type(ArithmeticElement(types), a.timed() || b.timed(), *batch));
}

StatusOr<std::vector<Type>> InferReduce(const InferContext& ctx, ElementType element) {
  const Type& x = ctx.operands[0];
  bool keepdim = ctx.attrs.GetBool("keepdim").value_or(false);
  int rank = x.full_rank();
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  // PyTorch reads an empty dim list as "all dims"; the IR makes that explicit.
  if (ctx.attrs.GetIntList("dims")->empty()) return ShapeError("dims must name at least one dim");
  for (int64_t d : *ctx.attrs.GetIntList("dims")) {
    auto n = internal::NormalizeDim(d, rank);
    if (!n || reduce[static_cast<size_t>(*n)]) {
      return ShapeError("dims " + FormatDims(*ctx.attrs.GetIntList("dims")) +
                        " are out of range or repeated for " + x.ToString());
    }
    reduce[static_cast<size_t>(*n)] = true;
  }
  bool over_time = x.timed() && reduce[0];
  std::vector<int64_t> dims;
  if (over_time && keepdim) dims.push_back(1);
  for (int i = x.timed() ? 1 : 0; i < rank; ++i) {
    int64_t size = x.dim(i - (x.timed() ? 1 : 0));
    if (!reduce[static_cast<size_t>(i)]) {
      dims.push_back(size);
    } else if (keepdim) {
      dims.push_back(1);
    }
  }
  return One(Type(element, x.timed() && !over_time, dims));
}

StatusOr<std::vector<Type>> InferSum(const InferContext& ctx) {
  ElementType e = ctx.operands[0].element();
  if (e == ElementType::kSpike) e = ElementType::kGraded;
  if (IsIntegerTensorType(e)) e = ElementType::kI32;
  return InferReduce(ctx, e);
}

StatusOr<std::vector<Type>> InferMean(const InferContext& ctx) {
  return InferReduce(ctx, ElementType::kF32);
}

// --- Neurons ---

StatusOr<std::vector<Type>> InferNeuron(const InferContext& ctx) {
  return One(ctx.operands[0].WithElement(ElementType::kSpike));
}

void VerifyFiniteFloats(const VerifyContext& ctx) {
  for (const auto& [name, attr] : ctx.op.attrs()) {
    if (name.find('.') != std::string::npos) continue;  // annotations are not ours to check
    if (attr.kind() == AttrKind::kFloat && !std::isfinite(attr.AsFloat())) {
      ctx.Error("attribute '" + name + "' must be finite");
    }
  }
}

void VerifyLif(const VerifyContext& ctx) {
  VerifyFiniteFloats(ctx);
  double vth = ctx.op.attrs().GetFloat("v_threshold").value_or(1.0);
  double reset = ctx.op.attrs().GetFloat("v_reset").value_or(0.0);
  if (vth <= reset) {
    ctx.Error("v_threshold must be above v_reset, so that a neuron at rest does not fire");
  }
}

constexpr TypeConstraint kAnyActivation{kActivations, TimeReq::kAny};
constexpr TypeConstraint kAnyNumeric{kNumeric, TimeReq::kAny};

}  // namespace

void RegisterFrontendOps(OpRegistry& registry) {
  auto reg = [&](OpDef def) { SPK_CHECK_OK(registry.Register(std::move(def))); };
  const auto window = [](std::string name, bool required, double min, int size) {
    return IntListAttr(std::move(name), required, min, kMaxWindow, size);
  };

  reg({.name = "input",
       .summary = "a model input, fed by the host every inference",
       .min_results = 1,
       .max_results = 1,
       .attrs = {StringAttr("name", true), FloatAttr("scale", false, 0, kInf)},
       .has_side_effects = true,
       .verify = VerifyInput});
  reg({.name = "output",
       .summary = "a model output, read back by the host",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {{kAnyElement, TimeReq::kAny}},
       .min_results = 0,
       .max_results = 0,
       .attrs = {StringAttr("name", true), FloatAttr("scale", false, 0, kInf)},
       .has_side_effects = true,
       .verify = VerifyUniqueName});
  reg({.name = "const",
       .summary = "the value of a module-level constant",
       .attrs = {RefAttr("value", true)},
       .infer = InferConst});

  reg({.name = "linear",
       .level = OpLevel::kFrontend,
       .summary = "y = x W^T + b over the last dim (float weights)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {RefAttr("weight", true), RefAttr("bias", false)},
       .infer = InferLinear});
  reg({.name = "conv1d",
       .level = OpLevel::kFrontend,
       .summary = "1-D convolution over per-step [B,C,L]",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {RefAttr("weight", true), RefAttr("bias", false), window("stride", false, 1, 1),
                 window("padding", false, 0, 1), window("dilation", false, 1, 1),
                 IntAttr("groups", false, 1, kMaxWindow)},
       .infer = InferConv1d});
  reg({.name = "conv2d",
       .level = OpLevel::kFrontend,
       .summary = "2-D convolution over per-step [B,C,H,W]",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {RefAttr("weight", true), RefAttr("bias", false), window("stride", false, 1, 2),
                 window("padding", false, 0, 2), window("dilation", false, 1, 2),
                 IntAttr("groups", false, 1, kMaxWindow)},
       .infer = InferConv2d});
  reg({.name = "batch_norm",
       .level = OpLevel::kFrontend,
       .summary = "inference BatchNorm over channel dim 1 of each step",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {RefAttr("mean", true), RefAttr("var", true), RefAttr("weight", false),
                 RefAttr("bias", false), FloatAttr("eps", true, 0, kInf)},
       .infer = InferBatchNorm});
  reg({.name = "max_pool2d",
       .level = OpLevel::kFrontend,
       .summary = "2-D max pooling (an OR on spikes)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {window("kernel_size", true, 1, 2), window("stride", false, 1, 2),
                 window("padding", false, 0, 2), BoolAttr("ceil_mode")},
       .infer = InferMaxPool});
  reg({.name = "avg_pool2d",
       .level = OpLevel::kFrontend,
       .summary = "2-D average pooling",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyActivation},
       .attrs = {window("kernel_size", true, 1, 2), window("stride", false, 1, 2),
                 window("padding", false, 0, 2), BoolAttr("ceil_mode"),
                 BoolAttr("count_include_pad")},
       .infer = InferAvgPool});

  reg({.name = "flatten",
       .summary = "merge dims start_dim..end_dim (PyTorch dim numbering)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntAttr("start_dim", true, -kMaxDimIndex, kMaxDimIndex),
                 IntAttr("end_dim", false, -kMaxDimIndex, kMaxDimIndex)},
       .infer = InferFlatten,
       .fold = internal::FoldSameData});
  reg({.name = "reshape",
       .summary = "reshape each step to `shape` (one -1 allowed)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntListAttr("shape", true, -1, static_cast<double>(kMaxElements))},
       .infer = InferReshape,
       .fold = internal::FoldSameData});
  reg({.name = "permute",
       .summary = "reorder dims (PyTorch numbering; T stays first)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntListAttr("dims", true, -kMaxDimIndex, kMaxDimIndex)},
       .infer = InferPermute,
       .fold = internal::FoldPermute});
  reg({.name = "transpose",
       .summary = "swap two dims (PyTorch numbering; not T)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntAttr("dim0", true, -kMaxDimIndex, kMaxDimIndex),
                 IntAttr("dim1", true, -kMaxDimIndex, kMaxDimIndex)},
       .infer = InferTranspose,
       .fold = internal::FoldTranspose});
  reg({.name = "repeat_t",
       .summary = "the same untimed value at every timestep",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {{kActivations, TimeReq::kUntimed}},
       .infer = InferRepeatT});

  reg({.name = "add",
       .summary = "element-wise sum with broadcasting",
       .min_operands = 2,
       .max_operands = 2,
       .operands = {kAnyNumeric},
       .infer = InferAdd,
       .fold = internal::FoldAdd});
  reg({.name = "mul",
       .summary = "element-wise product with broadcasting (AND on spikes)",
       .min_operands = 2,
       .max_operands = 2,
       .operands = {kAnyNumeric},
       .infer = InferMul,
       .fold = internal::FoldMul});
  reg({.name = "mul_scalar",
       .summary = "x * scalar",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {FloatAttr("scalar", true)},
       .verify = VerifyFiniteFloats,
       .infer = InferMulScalar,
       .fold = internal::FoldMulScalar});
  reg({.name = "matmul",
       .level = OpLevel::kFrontend,
       .summary = "batched matrix product of two values (b transposed if transpose_b)",
       .min_operands = 2,
       .max_operands = 2,
       .operands = {kAnyNumeric},
       .attrs = {BoolAttr("transpose_b")},
       .infer = InferMatmul});
  reg({.name = "sum",
       .summary = "sum over dims (dim 0 of a timed value is T)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntListAttr("dims", true, -kMaxDimIndex, kMaxDimIndex), BoolAttr("keepdim")},
       .infer = InferSum});
  reg({.name = "mean",
       .summary = "mean over dims (dim 0 of a timed value is T)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kAnyNumeric},
       .attrs = {IntListAttr("dims", true, -kMaxDimIndex, kMaxDimIndex), BoolAttr("keepdim")},
       .infer = InferMean});

  reg({.name = "lif",
       .level = OpLevel::kFrontend,
       .summary = "leaky integrate-and-fire neurons (SpikingJelly MultiStepLIFNode)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {{kActivations, TimeReq::kTimed}},
       .attrs = {FloatAttr("tau", true, 1, kInf), FloatAttr("v_threshold", true),
                 FloatAttr("v_reset", false), BoolAttr("decay_input")},
       .verify = VerifyLif,
       .infer = InferNeuron});
  reg({.name = "if_neuron",
       .level = OpLevel::kFrontend,
       .summary = "integrate-and-fire neurons (no leak)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {{kActivations, TimeReq::kTimed}},
       .attrs = {FloatAttr("v_threshold", true), FloatAttr("v_reset", false)},
       .verify = VerifyLif,
       .infer = InferNeuron});
}

}  // namespace spk::compiler::ir
