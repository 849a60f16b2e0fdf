// fuse-host (-O3): fewer host ops for the executor.
//
//   host mul_scalar(host matmul(a, b))   -> the matmul with scale *= scalar
//   host matmul(a, host transpose(b))    -> matmul with transpose_b flipped
//                                           (the transpose swaps the last dims)
//   host reshape(host reshape(x))        -> one reshape
//   host reshape(x) of x's own shape     -> x
// Only where the inner op has no other user, so nothing is computed twice.
#include <algorithm>
#include <memory>
#include <string>

#include "base/check.h"
#include "compiler/lowering/lowering.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::lowering {
namespace {

using ir::Operation;

bool IsHost(const Operation& op, std::string_view what) {
  const std::string* s = op.attrs().GetString("op");
  return op.name() == "host" && s != nullptr && *s == what;
}

// A transpose of the last two dims (a @ b^T is matmul with transpose_b).
bool SwapsLastTwo(const Operation& t) {
  const int r = t.result(0)->type().full_rank();
  auto norm = [r](int64_t d) { return d < 0 ? d + r : d; };
  int64_t a = norm(*t.attrs().GetInt("dim0")), b = norm(*t.attrs().GetInt("dim1"));
  return std::min(a, b) == r - 2 && std::max(a, b) == r - 1;
}

class FuseHostPass : public passes::Pass {
 public:
  static constexpr std::string_view kName = "fuse-host";
  static constexpr std::string_view kSummary =
      "fuse host mul_scalar into matmul scale and host reshape chains";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, passes::PassContext& ctx) override {
    int fused = 0;
    for (Operation* op : module.OpsSnapshot()) {
      if (IsHost(*op, "matmul") && IsHost(*op->operand(1)->def(), "transpose") &&
          op->operand(1)->uses().size() == 1 && SwapsLastTwo(*op->operand(1)->def())) {
        Operation* t = op->operand(1)->def();
        bool tb = op->attrs().GetBool("transpose_b").value_or(false);
        op->mutable_attrs().Set("transpose_b", ir::Attribute::Bool(!tb));
        op->SetOperand(1, t->operand(0));
        passes::EraseIfDead(t);
        ++fused;
        continue;
      }
      if (op->num_operands() != 1) continue;
      Operation* in = op->operand(0)->def();
      const bool single = op->operand(0)->uses().size() == 1;
      if (IsHost(*op, "mul_scalar") && IsHost(*in, "matmul") && single &&
          op->result(0)->type().element() == in->result(0)->type().element()) {
        double s = in->attrs().GetFloat("scale").value_or(1.0) * *op->attrs().GetFloat("scalar");
        in->mutable_attrs().Set("scale", ir::Attribute::Float(s));
        passes::ReplaceOpWith(op, in->result(0));
        ++fused;
      } else if (IsHost(*op, "reshape") && op->result(0)->type() == op->operand(0)->type()) {
        passes::ReplaceOpWith(op, op->operand(0));
        ++fused;
      } else if (IsHost(*op, "reshape") && IsHost(*in, "reshape") && single &&
                 in->operand(0)->type().timed() == op->result(0)->type().timed()) {
        op->SetOperand(0, in->operand(0));
        passes::EraseIfDead(in);
        ++fused;
      }
    }
    if (fused > 0) {
      ctx.diags.Remark(ir::Location{}, "fuse-host: " + std::to_string(fused) + " host op(s) fused");
    }
    return Status::Ok();
  }
};

}  // namespace

void RegisterFuseHostPass(passes::PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(FuseHostPass::kName),
                                  .summary = std::string(FuseHostPass::kSummary),
                                  .create = [] { return std::make_unique<FuseHostPass>(); },
                                  .slots = {{passes::kStageFusion, 3}}}));
}

}  // namespace spk::compiler::lowering
