// Properties of the builtin passes on many modules; the golden files in
// testdata/ pin down exact outputs.
#include <gtest/gtest.h>

#include <random>

#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/random_module.h"
#include "compiler/ir/test_files.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pass_manager.h"
#include "compiler/passes/pass_registry.h"
#include "compiler/passes/rewrite.h"

namespace spk::compiler::passes {
namespace {

const PassRegistry& Registry() {
  static const PassRegistry* r = [] {
    auto* registry = new PassRegistry();
    RegisterBuiltinPasses(*registry);
    return registry;
  }();
  return *r;
}

Status RunPipeline(ir::Module& m, const std::string& spec, ir::DiagnosticEngine& diags) {
  PassManager pm(Registry());
  pm.set_verify_each(true);
  if (spec.rfind("-O", 0) == 0) {
    SPK_RETURN_IF_ERROR(pm.AddOptLevel(spec[2] - '0'));
  } else {
    SPK_RETURN_IF_ERROR(pm.AddPipeline(spec));
  }
  return pm.Run(m, diags);
}

TEST(PassesTest, EveryPipelineKeepsRandomModulesValid) {
  for (uint64_t seed = 0; seed < 120; ++seed) {
    for (const char* spec : {"-O0", "-O1", "-O2", "-O3", "canonicalize", "constant-fold,dce"}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " " + spec);
      auto m = ir::testing::RandomModule(seed);
      ir::DiagnosticEngine diags;
      Status s = RunPipeline(*m, spec, diags);
      ASSERT_TRUE(s.ok()) << s << "\n" << diags.Render();
    }
  }
}

TEST(PassesTest, PipelinesAreIdempotent) {
  for (uint64_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto m = ir::testing::RandomModule(seed);
    ir::DiagnosticEngine diags;
    ASSERT_TRUE(RunPipeline(*m, "-O2", diags).ok()) << diags.Render();
    std::string once = ir::PrintModule(*m);
    ASSERT_TRUE(RunPipeline(*m, "-O2", diags).ok()) << diags.Render();
    EXPECT_EQ(ir::PrintModule(*m), once);
  }
}

TEST(PassesTest, AfterFoldingNoFoldableOpHasOnlyConstantOperands) {
  for (uint64_t seed = 0; seed < 60; ++seed) {
    auto m = ir::testing::RandomModule(seed);
    ir::DiagnosticEngine diags;
    ASSERT_TRUE(RunPipeline(*m, "constant-fold,dce", diags).ok());
    for (const auto& op : m->ops()) {
      if (op->def().fold == nullptr || op->num_operands() == 0) continue;
      bool all_const = true;
      for (ir::Value* v : op->operands()) all_const = all_const && DefiningConstant(v) != nullptr;
      const ir::Type& t = op->result(0)->type();
      // Integer overflow is the only reason to leave one.
      EXPECT_FALSE(all_const && t.element() == ir::ElementType::kF32) << ir::PrintOp(*op);
    }
  }
}

TEST(PassesTest, DceLeavesNoDeadOpsOrConstants) {
  for (uint64_t seed = 0; seed < 60; ++seed) {
    auto m = ir::testing::RandomModule(seed);
    ir::DiagnosticEngine diags;
    ASSERT_TRUE(RunPipeline(*m, "dce", diags).ok());
    for (const auto& op : m->ops()) EXPECT_FALSE(IsTriviallyDead(*op)) << ir::PrintOp(*op);
    auto used = ReferencedConstants(*m);
    for (const auto& c : m->constants()) EXPECT_TRUE(used.count(c->name())) << c->name();
  }
}

TEST(PassesTest, MutatedGoldenInputsNeverBreakAPass) {
  // Whatever parses and verifies must go through every pipeline without a
  // pass leaving invalid IR (INTERNAL) or crashing.
  auto files = ir::testing::FilesEndingWith(ir::testing::SourceDir() / "compiler", ".spkir");
  std::mt19937_64 rng(7);
  int ran = 0;
  for (const auto& path : files) {
    std::string original = ir::testing::ReadFile(path);
    for (int i = 0; i < 150; ++i) {
      std::string text = original;
      // Small edits: change one number. These keep the text parseable and
      // often valid, which is what reaches the passes.
      size_t pos = std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);
      size_t d = text.find_first_of("0123456789", pos);
      if (d == std::string::npos) continue;
      static const char* const kNumbers[] = {"0", "1", "2", "3", "4", "-1", "0.5"};
      text.replace(d, 1, kNumbers[std::uniform_int_distribution<int>(0, 6)(rng)]);
      auto m = ir::ParseModule(text, "mutant");
      if (!m.ok()) continue;
      ir::DiagnosticEngine diags;
      if (!ir::VerifyModule(**m, diags).ok()) continue;
      ++ran;
      Status s = RunPipeline(**m, "-O3", diags);
      ASSERT_NE(s.code(), StatusCode::kInternal) << s << "\n" << text;
    }
  }
  EXPECT_GT(ran, 200);
}

TEST(PassesTest, FoldBatchNormNeverEditsASharedConstantInPlace) {
  auto m = ir::ParseModule(ir::testing::ReadFile(ir::testing::SourceDir() /
                                                 "compiler/passes/testdata/fold-batch-norm/"
                                                 "shared_weight.spkir"))
               .value();
  ir::DiagnosticEngine diags;
  ASSERT_TRUE(RunPipeline(*m, "fold-batch-norm", diags).ok());
  auto w = m->FindConstant("shared.weight")->data().f32();
  EXPECT_EQ(std::vector<float>(w.begin(), w.end()), (std::vector<float>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace spk::compiler::passes
