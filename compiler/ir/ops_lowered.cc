// Lowered ops: the chip's vocabulary. Each maps onto board-image objects
// (hal/format/board_image.h): neurons become neuron groups, syn_* ops become
// synapse tables, host ops become host segments. Integer semantics follow
// facts/chip.md; see docs/ir.md.

#include "base/check.h"
#include "compiler/ir/module.h"
#include "compiler/ir/op_registry.h"
#include "compiler/ir/ops_util.h"

namespace spk::compiler::ir {
namespace {

using internal::GetConstant;
using internal::kMaxWindow;
using internal::ShapeError;

constexpr ElementMask kQuantWeights = MaskOf(ElementType::kI8) | MaskOf(ElementType::kI16);
constexpr ElementMask kI32Only = MaskOf(ElementType::kI32);

// Weights as the hardware applies them (9-bit signed, facts/chip.md).
constexpr int64_t kWeightMin = -256, kWeightMax = 255;
// bias_mant is 13-bit signed.
constexpr int64_t kBiasMin = -4096, kBiasMax = 4095;

AttrSpec IntAttr(std::string name, bool required, double min, double max) {
  return AttrSpec{std::move(name), AttrKind::kInt, required, min, max};
}
AttrSpec RefAttr(std::string name, bool required) {
  return AttrSpec{std::move(name), AttrKind::kConstRef, required};
}
AttrSpec WeightExp() { return IntAttr("weight_exp", true, -8, 7); }
AttrSpec NumWeightBits() { return IntAttr("num_weight_bits", false, 1, 8); }
// Extra steps of delay beyond the inherent one (Loihi 2 synapses: up to 62).
AttrSpec Delay() { return IntAttr("delay", false, 0, 62); }

std::vector<Type> One(Type t) { return {std::move(t)}; }

// Values of an integer constant outside [lo, hi]: reports the first one.
void CheckRange(const VerifyContext& ctx, std::string_view attr, int64_t lo, int64_t hi) {
  const std::string* name = ctx.op.attrs().GetRef(attr);
  if (name == nullptr) return;
  const Constant* c = ctx.module.FindConstant(*name);
  if (c == nullptr || !IsIntegerTensorType(c->type().element())) return;
  const TensorData& data = c->data();
  for (size_t i = 0; i < data.size(); ++i) {
    int64_t v = data.GetAsInt(i);
    if (v < lo || v > hi) {
      ctx.Error(std::string(attr) + " @" + *name + " element " + std::to_string(i) + " = " +
                std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
      return;
    }
  }
}

StatusOr<std::vector<Type>> InferCubaLif(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  SPK_ASSIGN_OR_RETURN(const Constant* bias,
                       GetConstant(ctx, "bias_mant", false, MaskOf(ElementType::kI16), -1));
  if (bias != nullptr && bias->type().num_elements() != x.num_elements()) {
    return ShapeError("bias_mant @" + bias->name() + " " + bias->type().ToString() +
                      " must have one value per neuron (" + std::to_string(x.num_elements()) + ")");
  }
  return One(x.WithElement(ElementType::kSpike));
}

void VerifyCubaLif(const VerifyContext& ctx) { CheckRange(ctx, "bias_mant", kBiasMin, kBiasMax); }

StatusOr<std::vector<Type>> InferSynDense(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() < 1) return ShapeError("input must have a feature dim, got " + x.ToString());
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kQuantWeights, 2));
  if (w->type().dim(1) != x.dims().back()) {
    return ShapeError("weight @" + w->name() + " " + w->type().ToString() + " takes " +
                      std::to_string(w->type().dim(1)) + " inputs, the input " + x.ToString() +
                      " has " + std::to_string(x.dims().back()));
  }
  std::vector<int64_t> dims = x.dims();
  dims.back() = w->type().dim(0);
  return One(Type(ElementType::kGraded, true, dims));
}

void VerifySynWeights(const VerifyContext& ctx) {
  CheckRange(ctx, "weight", kWeightMin, kWeightMax);
}

StatusOr<std::vector<Type>> InferSynSparse(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  if (x.rank() < 1) return ShapeError("input must have a feature dim, got " + x.ToString());
  SPK_ASSIGN_OR_RETURN(const Constant* row_ptr, GetConstant(ctx, "row_ptr", true, kI32Only, 1));
  SPK_ASSIGN_OR_RETURN(const Constant* col, GetConstant(ctx, "col", true, kI32Only, 1));
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kQuantWeights, 1));
  if (row_ptr->type().dim(0) != x.dims().back() + 1) {
    return ShapeError("row_ptr @" + row_ptr->name() + " must have one entry per input plus one (" +
                      std::to_string(x.dims().back() + 1) + "), got " + row_ptr->type().ToString());
  }
  if (col->type().dim(0) != w->type().dim(0)) {
    return ShapeError("col @" + col->name() + " and weight @" + w->name() +
                      " must have the same length");
  }
  std::vector<int64_t> dims = x.dims();
  dims.back() = *ctx.attrs.GetInt("out_features");
  return One(Type(ElementType::kGraded, true, dims));
}

void VerifySynSparse(const VerifyContext& ctx) {
  VerifySynWeights(ctx);
  const Constant* row_ptr = ctx.module.FindConstant(*ctx.op.attrs().GetRef("row_ptr"));
  const Constant* col = ctx.module.FindConstant(*ctx.op.attrs().GetRef("col"));
  int64_t out = *ctx.op.attrs().GetInt("out_features");
  auto rows = row_ptr->data().i32();
  auto cols = col->data().i32();
  if (rows.front() != 0 || static_cast<size_t>(rows.back()) != cols.size()) {
    ctx.Error("row_ptr @" + row_ptr->name() + " must start at 0 and end at the number of " +
              "synapses (" + std::to_string(cols.size()) + ")");
  }
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i] < rows[i - 1]) {
      ctx.Error("row_ptr @" + row_ptr->name() + " decreases at index " + std::to_string(i));
      break;
    }
  }
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i] < 0 || cols[i] >= out) {
      ctx.Error("col @" + col->name() + " element " + std::to_string(i) + " = " +
                std::to_string(cols[i]) + " is not a target in [0, " + std::to_string(out) + ")");
      break;
    }
  }
}

StatusOr<std::vector<Type>> InferSynConv2d(const InferContext& ctx) {
  const Type& x = ctx.operands[0];
  SPK_ASSIGN_OR_RETURN(const Constant* w, GetConstant(ctx, "weight", true, kQuantWeights, 4));
  SPK_ASSIGN_OR_RETURN(auto dims, internal::Conv2dDims(ctx, x, *w, /*allow_dilation=*/false));
  return One(Type(ElementType::kGraded, true, dims));
}

// The two ports broadcast like NumPy (a port of size 1 along a dim fans out
// to every neuron along it), as SDSA's q * kv does.
StatusOr<std::vector<Type>> InferAnd2(const InferContext& ctx) {
  auto dims = internal::BroadcastDims(ctx.operands[0].dims(), ctx.operands[1].dims());
  if (!dims) {
    return ShapeError("operands must have the same or broadcastable shapes, got " +
                      ctx.operands[0].ToString() + " and " + ctx.operands[1].ToString());
  }
  return One(Type(ElementType::kSpike, true, *dims));
}

StatusOr<std::vector<Type>> InferAccumulate(const InferContext& ctx) {
  return One(ctx.operands[0].WithElement(ElementType::kState));
}

StatusOr<std::vector<Type>> InferRelay(const InferContext& ctx) {
  return One(ctx.operands[0].WithElement(ElementType::kGraded));
}

constexpr TypeConstraint kTimedEvents{kEvents, TimeReq::kTimed};
constexpr TypeConstraint kTimedGraded{kGradedOnly, TimeReq::kTimed};

}  // namespace

void RegisterLoweredOps(OpRegistry& registry) {
  auto reg = [&](OpDef def) { SPK_CHECK_OK(registry.Register(std::move(def))); };
  const auto list2 = [](std::string name, double min) {
    return AttrSpec{std::move(name), AttrKind::kIntList, false, min, kMaxWindow, 2};
  };

  reg({.name = "cuba_lif",
       .level = OpLevel::kLowered,
       .summary = "bit-exact CUBA LIF neurons fed by synaptic input",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedGraded},
       .attrs = {IntAttr("du", true, 0, 4095), IntAttr("dv", true, 0, 4095),
                 IntAttr("vth", true, 0, (1 << 17) - 1), IntAttr("bias_exp", false, -7, 7),
                 RefAttr("bias_mant", false)},
       .verify = VerifyCubaLif,
       .infer = InferCubaLif});
  reg({.name = "syn_dense",
       .level = OpLevel::kLowered,
       .summary = "dense synapses [out,in] with one step of delay",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedEvents},
       .attrs = {RefAttr("weight", true), WeightExp(), NumWeightBits(), Delay()},
       .verify = VerifySynWeights,
       .infer = InferSynDense});
  reg({.name = "syn_sparse",
       .level = OpLevel::kLowered,
       .summary = "sparse synapses (CSR by source) with one step of delay",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedEvents},
       .attrs = {RefAttr("row_ptr", true), RefAttr("col", true), RefAttr("weight", true),
                 IntAttr("out_features", true, 1, static_cast<double>(kMaxElements)), WeightExp(),
                 NumWeightBits(), Delay()},
       .verify = VerifySynSparse,
       .infer = InferSynSparse});
  reg({.name = "syn_conv2d",
       .level = OpLevel::kLowered,
       .summary = "convolutional synapses with shared weights, one step of delay",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedEvents},
       .attrs = {RefAttr("weight", true), list2("stride", 1), list2("padding", 0),
                 IntAttr("groups", false, 1, kMaxWindow), WeightExp(), NumWeightBits(), Delay()},
       .verify = VerifySynWeights,
       .infer = InferSynConv2d});
  reg({.name = "and2",
       .level = OpLevel::kLowered,
       .summary = "coincidence neurons: spike where both inputs are non-zero",
       .min_operands = 2,
       .max_operands = 2,
       .operands = {kTimedEvents},
       // Extra delay of each port's fan-in (balance-delays), 0..62 each.
       .attrs = {AttrSpec{"delays", AttrKind::kIntList, false, 0, 62, 2}},
       .infer = InferAnd2});
  reg({.name = "accumulate",
       .level = OpLevel::kLowered,
       .summary = "non-spiking integrators v += a_in (readout)",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedGraded},
       .attrs = {IntAttr("dv", false, 0, 4095)},
       .infer = InferAccumulate});
  reg({.name = "relay",
       .level = OpLevel::kLowered,
       .summary = "forward the input of each step as a graded spike",
       .min_operands = 1,
       .max_operands = 1,
       .operands = {kTimedGraded},
       .infer = InferRelay});
  reg({.name = "host",
       .level = OpLevel::kLowered,
       .summary = "a segment the host executes (its `op` names what it does)",
       .min_operands = 0,
       .max_operands = -1,
       .operands = {{kAnyElement, TimeReq::kAny}},
       .min_results = 0,
       .max_results = -1,
       .attrs = {AttrSpec{"op", AttrKind::kString, true}},
       .open_attributes = true});
}

}  // namespace spk::compiler::ir
