#include "compiler/passes/pass_manager.h"

#include <gtest/gtest.h>

#include "compiler/ir/parser.h"
#include "compiler/passes/pass_registry.h"

namespace spk::compiler::passes {
namespace {

constexpr char kModule[] = R"(module attributes {timesteps = 4} {
  %0 = input() {name = "x"} : () -> f32[T,2] loc("m.py":3:1 "x")
  %1 = mul_scalar(%0) {scalar = 2.0} : f32[T,2] -> f32[T,2]
  output(%1) {name = "y"} : f32[T,2] -> ()
}
)";

std::unique_ptr<ir::Module> Parse(const char* text = kModule) {
  auto m = ir::ParseModule(text, "t.spkir");
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(m).value();
}

// A configurable test pass.
class FakePass : public Pass {
 public:
  enum class Mode { kNothing, kBreakIr, kEmitError, kReturnError };
  FakePass(std::string name, Mode mode, std::vector<std::string>* log)
      : name_(std::move(name)), mode_(mode), log_(log) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override { return "test pass"; }
  Status Run(ir::Module& module, PassContext& ctx) override {
    log_->push_back(name_ + "@O" + std::to_string(ctx.opt_level));
    ir::Operation* op = std::next(module.ops().begin())->get();
    switch (mode_) {
      case Mode::kBreakIr:
        op->result(0)->set_type(ir::Type::Timed(ir::ElementType::kSpike, {2}));
        break;
      case Mode::kEmitError:
        ctx.diags.Error(op->DiagLocation(), "'" + op->name() + "' op cannot be mapped");
        break;
      case Mode::kReturnError:
        return UnimplementedError("not yet");
      case Mode::kNothing:
        break;
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  Mode mode_;
  std::vector<std::string>* log_;
};

TEST(PassRegistryTest, RejectsDuplicatesBadNamesAndMissingFactories) {
  PassRegistry r;
  auto make = [] { return std::unique_ptr<Pass>(); };
  EXPECT_TRUE(r.Register({.name = "a-pass", .create = make}).ok());
  EXPECT_EQ(r.Register({.name = "a-pass", .create = make}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Register({.name = "Bad_Name", .create = make}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Register({.name = "-x", .create = make}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Register({.name = "no-factory"}).code(), StatusCode::kInvalidArgument);
}

TEST(PassRegistryTest, BuiltinPipelines) {
  PassRegistry r;
  RegisterBuiltinPasses(r);
  using V = std::vector<std::string>;
  EXPECT_EQ(*r.PipelineForLevel(0), (V{"fold-batch-norm", "dce"}));
  EXPECT_EQ(*r.PipelineForLevel(1),
            (V{"canonicalize", "dce", "fold-batch-norm", "canonicalize", "dce"}));
  EXPECT_EQ(*r.PipelineForLevel(2),
            (V{"canonicalize", "dce", "fold-batch-norm", "constant-fold", "canonicalize", "dce"}));
  EXPECT_EQ(r.PipelineForLevel(4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.PipelineForLevel(-1).status().code(), StatusCode::kInvalidArgument);
  for (const PassInfo* info : r.List()) {
    EXPECT_FALSE(info->summary.empty()) << info->name;
    auto pass = info->create();
    EXPECT_EQ(pass->name(), info->name);
    EXPECT_EQ(pass->summary(), info->summary);
  }
}

TEST(PassRegistryTest, ANewPassSlotsInByRegistrationAlone) {
  PassRegistry r;
  RegisterBuiltinPasses(r);
  std::vector<std::string> log;
  ASSERT_TRUE(r.Register({.name = "lif-to-cuba",
                          .summary = "map neurons",
                          .create =
                              [&log] {
                                return std::make_unique<FakePass>("lif-to-cuba",
                                                                  FakePass::Mode::kNothing, &log);
                              },
                          .slots = {{kStageNeuronLowering, 0}}})
                  .ok());
  ASSERT_TRUE(r.Register({.name = "fuse",
                          .summary = "fuse",
                          .create =
                              [&log] {
                                return std::make_unique<FakePass>("fuse", FakePass::Mode::kNothing,
                                                                  &log);
                              },
                          .slots = {{kStageFusion, 3}}})
                  .ok());
  using V = std::vector<std::string>;
  EXPECT_EQ(*r.PipelineForLevel(0), (V{"fold-batch-norm", "lif-to-cuba", "dce"}));
  EXPECT_EQ(r.PipelineForLevel(3)->at(4), "lif-to-cuba");
  EXPECT_EQ(r.PipelineForLevel(3)->at(5), "fuse");
  PassManager pm(r);
  ASSERT_TRUE(pm.AddOptLevel(3).ok());
  auto m = Parse();
  ir::DiagnosticEngine diags;
  ASSERT_TRUE(pm.Run(*m, diags).ok()) << diags.Render();
  EXPECT_EQ(log, (V{"lif-to-cuba@O3", "fuse@O3"}));
}

class PassManagerTest : public ::testing::Test {
 protected:
  PassManagerTest() { RegisterBuiltinPasses(registry_); }
  std::unique_ptr<Pass> Fake(std::string name, FakePass::Mode mode) {
    return std::make_unique<FakePass>(std::move(name), mode, &log_);
  }
  PassRegistry registry_;
  std::vector<std::string> log_;
  ir::DiagnosticEngine diags_;
};

TEST_F(PassManagerTest, PipelineSpec) {
  PassManager pm(registry_);
  EXPECT_TRUE(pm.AddPipeline("dce,canonicalize").ok());
  EXPECT_EQ(pm.pass_names(), (std::vector<std::string>{"dce", "canonicalize"}));
  EXPECT_EQ(pm.AddPipeline("dce,,dce").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pm.AddPipeline("dce,").code(), StatusCode::kInvalidArgument);
  Status s = pm.AddPipeline("nope");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("known: canonicalize, constant-fold, dce, fold-batch-norm"),
            std::string_view::npos);
}

TEST_F(PassManagerTest, VerifyEachNamesThePassThatBrokeTheIr) {
  PassManager pm(registry_);
  pm.AddPass(Fake("ok", FakePass::Mode::kNothing));
  pm.AddPass(Fake("breaker", FakePass::Mode::kBreakIr));
  pm.AddPass(Fake("after", FakePass::Mode::kNothing));
  pm.set_verify_each(true);
  auto m = Parse();
  Status s = pm.Run(*m, diags_);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("pass 'breaker' left invalid IR"), std::string_view::npos) << s;
  EXPECT_EQ(log_, (std::vector<std::string>{"ok@O0", "breaker@O0"}));
  EXPECT_NE(
      diags_.Render().find("t.spkir:3:3: error: 'mul_scalar' op result #0 is declared spike[T,2]"),
      std::string::npos)
      << diags_.Render();
}

TEST_F(PassManagerTest, WithoutVerifyEachTheRunGoesOn) {
  PassManager pm(registry_);
  pm.AddPass(Fake("breaker", FakePass::Mode::kBreakIr));
  pm.AddPass(Fake("after", FakePass::Mode::kNothing));
  pm.set_verify_each(false);
  auto m = Parse();
  EXPECT_TRUE(pm.Run(*m, diags_).ok());
  EXPECT_EQ(log_.size(), 2u);
}

TEST_F(PassManagerTest, APassThatReportsErrorsFailsThePipeline) {
  PassManager pm(registry_);
  pm.AddPass(Fake("mapper", FakePass::Mode::kEmitError));
  pm.AddPass(Fake("after", FakePass::Mode::kNothing));
  auto m = Parse();
  Status s = pm.Run(*m, diags_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "pass 'mapper': reported errors");
  EXPECT_EQ(diags_.Render(), "t.spkir:3:3: error: 'mul_scalar' op cannot be mapped\n");
  EXPECT_EQ(log_.size(), 1u);
}

TEST_F(PassManagerTest, APassStatusCarriesItsName) {
  PassManager pm(registry_);
  pm.AddPass(Fake("later", FakePass::Mode::kReturnError));
  auto m = Parse();
  Status s = pm.Run(*m, diags_);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(s.message(), "pass 'later': not yet");
}

TEST_F(PassManagerTest, InvalidInputRunsNoPass) {
  PassManager pm(registry_);
  pm.AddPass(Fake("never", FakePass::Mode::kNothing));
  auto m = Parse(R"(module {
  %0 = input() {name = "x"} : () -> f32[T,2]
  %1 = lif(%0) {tau = 2.0} : f32[T,2] -> spike[T,2]
}
)");
  Status s = pm.Run(*m, diags_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("input IR is invalid"), std::string_view::npos);
  EXPECT_TRUE(log_.empty());
}

TEST_F(PassManagerTest, AfterPassHookSeesEveryPass) {
  PassManager pm(registry_);
  ASSERT_TRUE(pm.AddOptLevel(2).ok());
  std::vector<std::string> seen;
  pm.set_after_pass_hook(
      [&](const Pass& pass, const ir::Module&) { seen.emplace_back(pass.name()); });
  auto m = Parse();
  ASSERT_TRUE(pm.Run(*m, diags_).ok()) << diags_.Render();
  EXPECT_EQ(seen, pm.pass_names());
}

}  // namespace
}  // namespace spk::compiler::passes
