// dce: removes ops whose results nobody uses and that have no side effects
// (inputs, outputs and other effectful ops stay), then constants no op refers
// to. One backward walk suffices: in verified IR every user comes after its
// producer, so by the time a producer is visited its users are settled.
#include <memory>

#include "base/check.h"
#include "compiler/passes/passes.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::passes {
namespace {

class DcePass : public Pass {
 public:
  static constexpr std::string_view kName = "dce";
  static constexpr std::string_view kSummary =
      "remove unused side-effect-free ops and unreferenced constants";

  std::string_view name() const override { return kName; }
  std::string_view summary() const override { return kSummary; }

  Status Run(ir::Module& module, PassContext&) override {
    std::vector<ir::Operation*> ops = module.OpsSnapshot();
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      if (IsTriviallyDead(**it)) module.EraseOp(*it);
    }
    auto referenced = ReferencedConstants(module);
    std::vector<std::string> unused;
    for (const auto& c : module.constants()) {
      if (!referenced.count(c->name())) unused.push_back(c->name());
    }
    for (const std::string& name : unused) module.EraseConstant(name);
    return Status::Ok();
  }
};

}  // namespace

void RegisterDcePass(PassRegistry& registry) {
  SPK_CHECK_OK(registry.Register({.name = std::string(DcePass::kName),
                                  .summary = std::string(DcePass::kSummary),
                                  .create = [] { return std::make_unique<DcePass>(); },
                                  .slots = {{kStageCleanup, 1}, {kStageFinalCleanup, 0}}}));
}

}  // namespace spk::compiler::passes
