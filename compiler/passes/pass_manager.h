// The pass manager: runs a pipeline of passes over a module.
//
// It verifies the module before the first pass (passes may assume valid IR),
// runs the passes in order and stops at the first failure. With verify_each
// (the default in debug builds, or when asked) it verifies again after every
// pass, so a pass that leaves broken IR is caught at once and named.
//
// Thread safety: one Run at a time.
#ifndef SPK_COMPILER_PASSES_PASS_MANAGER_H_
#define SPK_COMPILER_PASSES_PASS_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"
#include "compiler/passes/pass.h"
#include "compiler/passes/pass_registry.h"

namespace spk::compiler::passes {

class PassManager {
 public:
  // Called after each pass that succeeded (e.g. to print the IR or time it).
  using AfterPassHook = std::function<void(const Pass& pass, const ir::Module& module)>;

  // The registry must outlive the manager.
  explicit PassManager(const PassRegistry& registry);

  // NOT_FOUND (listing the known passes) for an unknown name.
  Status AddPass(std::string_view name);
  void AddPass(std::unique_ptr<Pass> pass);
  // A comma-separated list: "dce,fold-batch-norm". Empty entries are errors.
  Status AddPipeline(std::string_view spec);
  // The pipeline of -O<level>; also sets the level passes see.
  Status AddOptLevel(int level);

  // What every pass sees in its PassContext (see pass.h).
  void set_target(TargetInfo target) { target_ = std::move(target); }
  void set_option(std::string key, std::string value) {
    options_[std::move(key)] = std::move(value);
  }

  void set_verify_each(bool on) { verify_each_ = on; }
  bool verify_each() const { return verify_each_; }
  void set_after_pass_hook(AfterPassHook hook) { after_pass_ = std::move(hook); }
  std::vector<std::string> pass_names() const;

  // INVALID_ARGUMENT if the input does not verify or a pass fails on this
  // model (diagnostics say why); INTERNAL if a pass leaves invalid IR.
  Status Run(ir::Module& module, ir::DiagnosticEngine& diags);

 private:
  const PassRegistry& registry_;
  std::vector<std::unique_ptr<Pass>> passes_;
  int opt_level_ = 0;
  TargetInfo target_;
  std::map<std::string, std::string, std::less<>> options_;
#ifdef NDEBUG
  bool verify_each_ = false;
#else
  bool verify_each_ = true;
#endif
  AfterPassHook after_pass_;
};

}  // namespace spk::compiler::passes

#endif  // SPK_COMPILER_PASSES_PASS_MANAGER_H_
