// lower-host: the float work left after quantize -> `host` ops.
//
// What is left of the frontend once the neurons and their layers are lowered
// is host work: the classifier head (mean over tokens and time, a float
// linear), spike matmuls, residual sums read by the host. Each such op becomes
// a `host` op whose `op` and attributes are the executor's
// (daemon/executor/host_ops.h): linear {weight, bias}, matmul {transpose_b,
// scale}, add, mul, mul_scalar {scalar}, sum/mean {dims, keepdim}, reshape
// {shape}, permute {dims}, transpose {dim0, dim1}; flatten becomes reshape.
// Host values are f32, except where a synapse table reads them (graded: the
// codegen makes them graded input ports). Layout ops that feed synapse tables
// stay (codegen folds them into index maps); an op with no host equivalent
// (a leftover lif, conv2d, pooling, BatchNorm) is an error at its location.
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::lowering {
namespace {

using ir::Operation;
using ir::Value;

// True if `v` reaches a synapse table or an and2 port, directly or through
// layout ops.
bool FeedsChip(const Value& v) {
  for (const Value::Use& use : v.uses()) {
    if (IsSynapseOp(*use.user) || use.user->name() == "and2") return true;
    if (IsLayoutOp(*use.user) && FeedsChip(*use.user->result(0))) return true;
  }
  return false;
}

// A value the chip produces (neurons, inputs), possibly through layout ops.
bool OnChip(const Value& v) {
  const Operation& d = *v.def();
  if (IsNeuronOp(d) || d.name() == "input") return true;
  return IsLayoutOp(d) && OnChip(*d.operand(0));
}

class LowerHostPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "lower-host";
  static constexpr std::string_view kSummary =
      "turn the float work left after quantize (head, reductions, spike matmuls) into host ops";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    bool failed = false;
    int converted = 0;
    for (Operation* op : module.OpsSnapshot()) {
      const std::string& n = op->name();
      if (op->def().level == ir::OpLevel::kLowered || n == "input" || n == "output" ||
          n == "const") {
        continue;
      }
      if (n == "add" && IsChipSum(*op)) continue;  // several tables into one group
      if (IsLayoutOp(*op) && OnChip(*op->operand(0)) && FeedsChip(*op->result(0))) continue;
      if (ConvertToHost(module, op, FeedsChip(*op->result(0)), ctx.diags) == nullptr) {
        failed = true;
        continue;
      }
      ++converted;
    }
    if (failed) return InvalidArgumentError("lower-host: ops left that neither chip nor host runs");
    if (converted > 0) {
      ctx.diags.Remark(ir::Location{},
                       "lower-host: " + std::to_string(converted) + " op(s) run on the host");
    }
    return Status::Ok();
  }

 private:
  // An add whose summands are synapse tables (or such adds): stays.
  static bool IsChipSum(const Operation& op) {
    for (Value* v : op.operands()) {
      const Operation& d = *v->def();
      if (!IsSynapseOp(d) && !(d.name() == "add" && IsChipSum(d))) return false;
    }
    return true;
  }
};

}  // namespace

void RegisterLowerHostPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(LowerHostPass::kName),
                                  .summary = std::string(LowerHostPass::kSummary),
                                  .create = [] { return std::make_unique<LowerHostPass>(); },
                                  .slots = {{kStageHostLowering, 0}}}));
}

}  // namespace spk::compiler::lowering
