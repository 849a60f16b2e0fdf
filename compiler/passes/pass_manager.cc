#include "compiler/passes/pass_manager.h"

#include "compiler/ir/verifier.h"

namespace spk::compiler::passes {

PassManager::PassManager(const PassRegistry& registry) : registry_(registry) {}

Status PassManager::AddPass(std::string_view name) {
  const PassInfo* info = registry_.Find(name);
  if (info == nullptr) {
    std::string known;
    for (const PassInfo* p : registry_.List()) known += (known.empty() ? "" : ", ") + p->name;
    return NotFoundError("unknown pass '" + std::string(name) + "' (known: " + known + ")");
  }
  passes_.push_back(info->create());
  return Status::Ok();
}

void PassManager::AddPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }

Status PassManager::AddPipeline(std::string_view spec) {
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string_view::npos) end = spec.size();
    std::string_view name = spec.substr(start, end - start);
    if (name.empty()) {
      return InvalidArgumentError("empty pass name in pipeline '" + std::string(spec) + "'");
    }
    SPK_RETURN_IF_ERROR(AddPass(name));
    start = end + 1;
  }
  return Status::Ok();
}

Status PassManager::AddOptLevel(int level) {
  SPK_ASSIGN_OR_RETURN(std::vector<std::string> names, registry_.PipelineForLevel(level));
  for (const std::string& name : names) SPK_RETURN_IF_ERROR(AddPass(name));
  opt_level_ = level;
  return Status::Ok();
}

std::vector<std::string> PassManager::pass_names() const {
  std::vector<std::string> names;
  for (const auto& pass : passes_) names.emplace_back(pass->name());
  return names;
}

Status PassManager::Run(ir::Module& module, ir::DiagnosticEngine& diags) {
  SPK_RETURN_IF_ERROR(ir::VerifyModule(module, diags).WithContext("input IR is invalid"));
  PassContext ctx{diags, opt_level_, target_, options_};
  for (const auto& pass : passes_) {
    size_t errors_before = diags.error_count();
    Status status = pass->Run(module, ctx);
    if (status.ok() && diags.error_count() != errors_before) {
      status = InvalidArgumentError("reported errors");
    }
    if (!status.ok()) return status.WithContext("pass '" + std::string(pass->name()) + "'");
    if (verify_each_) {
      Status verified = ir::VerifyModule(module, diags);
      if (!verified.ok()) {
        return InternalError(
            "pass '" + std::string(pass->name()) +
            "' left invalid IR (a bug in the pass): " + std::string(verified.message()));
      }
    }
    if (after_pass_) after_pass_(*pass, module);
  }
  return Status::Ok();
}

}  // namespace spk::compiler::passes
