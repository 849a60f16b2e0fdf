// constant-fold: evaluates ops whose operands are all constants (reshape,
// flatten, transpose, permute, add, mul, mul_scalar, ... any op whose OpDef
// has a fold hook) into new module constants, and replaces each such op by a
// `const` of the result. The `const` ops it leaves unused are for dce.
#include <memory>
#include <vector>

#include "base/check.h"
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::passes {
namespace {

class ConstantFoldPass : public Pass {
 public:
  static constexpr std::string_view kName = "constant-fold";
  static constexpr std::string_view kSummary = "evaluate ops whose operands are all constants";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, PassContext&) override {
    const ir::OpDef* const_def = module.registry().Find("const");
    for (ir::Operation* op : module.OpsSnapshot()) {
      const ir::OpDef& def = op->def();
      if (def.fold == nullptr || op->num_operands() == 0 || op->num_results() != 1) continue;
      const ir::Type& type = op->result(0)->type();
      if (type.timed() || !ir::IsConstantElementType(type.element())) continue;
      std::vector<const ir::Constant*> inputs;
      for (ir::Value* v : op->operands()) {
        const ir::Constant* c = DefiningConstant(v);
        if (c == nullptr) break;
        inputs.push_back(c);
      }
      if (inputs.size() != op->num_operands()) continue;
      StatusOr<ir::TensorData> folded = def.fold(*op, inputs);
      if (!folded.ok()) continue;  // this case does not fold; the op stays
      ir::Constant* result = AddUniqueConstant(module, inputs[0]->name() + "." + op->name(), type,
                                               std::move(folded).value());
      ir::Operation* replacement = module.CreateOp(
          *const_def, {}, {type}, ir::MakeAttrs({{"value", ir::Attribute::Ref(result->name())}}),
          op->loc(), op);
      ReplaceOpWith(op, replacement->result(0));
    }
    return Status::Ok();
  }
};

}  // namespace

void RegisterConstantFoldPass(PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(ConstantFoldPass::kName),
                                  .summary = std::string(ConstantFoldPass::kSummary),
                                  .create = [] { return std::make_unique<ConstantFoldPass>(); },
                                  .slots = {{kStageFold, 2}}}));
}

}  // namespace spk::compiler::passes
