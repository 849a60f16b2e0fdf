#include "compiler/tools/opt_driver.h"

#include <gtest/gtest.h>

namespace spk::compiler::tools {
namespace {

StatusOr<OptOptions> Parse(std::vector<std::string> args) { return ParseOptArgs(args); }

TEST(OptArgsTest, ParsesTheDocumentedFlags) {
  auto o = Parse({"in.spkir", "--passes=dce,fold-batch-norm", "-O2", "-o", "out.spkir",
                  "--verify-each", "--elide-constants=8", "--print-after-each"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->input, "in.spkir");
  EXPECT_EQ(o->output, "out.spkir");
  EXPECT_EQ(o->opt_level, 2);
  EXPECT_EQ(o->passes, std::vector<std::string>{"dce,fold-batch-norm"});
  EXPECT_EQ(o->verify_each, 1);
  EXPECT_EQ(o->elide_constants_over, 8);
  EXPECT_TRUE(o->print_after_each);
  EXPECT_TRUE(Parse({"--list-passes"}).ok());
  auto t =
      Parse({"in.spkir", "--ssa=chip", "--chip=loihi2", "--board=kapoho-point-8", "--max-cores=4"});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->ssa, "chip");
  EXPECT_EQ(t->chip, "loihi2");
  EXPECT_EQ(t->board, "kapoho-point-8");
  EXPECT_EQ(t->max_cores, 4u);
}

TEST(OptArgsTest, RejectsBadUsage) {
  EXPECT_NE(Parse({}).status().message().find("no input file"), std::string_view::npos);
  EXPECT_NE(Parse({"a", "b"}).status().message().find("more than one input"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "-O7"}).status().message().find("unknown optimisation level -O7"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "--frobnicate"}).status().message().find("unknown option"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "--passes="}).status().message().find("at least one pass"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "-o"}).status().message().find("needs a file"), std::string_view::npos);
  EXPECT_NE(Parse({"a", "--elide-constants=x"}).status().message().find("needs a count"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "--ssa=gpu"}).status().message().find("auto, host or chip"),
            std::string_view::npos);
  EXPECT_NE(Parse({"a", "--max-cores=2"}).status().message().find("need --chip"),
            std::string_view::npos);
}

constexpr char kModule[] = R"(module {
  constant @w : f32[2,2] = [1, 2, 3, 4]
  constant @unused : f32[1] = [0]
  %0 = input() {name = "x"} : () -> f32[T,2]
  %1 = linear(%0) {weight = @w} : f32[T,2] -> f32[T,2]
  %2 = transpose(%0) {dim0 = 1, dim1 = 1} : f32[T,2] -> f32[T,2]
  output(%1) {name = "y"} : f32[T,2] -> ()
}
)";

TEST(RunOptTest, RunsPassesAndPrints) {
  auto o = Parse({"-", "--passes=dce", "--print-after-each"});
  ir::DiagnosticEngine diags;
  std::string out, log;
  ASSERT_TRUE(RunOpt(*o, kModule, "t.spkir", diags, &out, &log).ok()) << diags.Render();
  EXPECT_EQ(out.find("transpose"), std::string::npos);
  EXPECT_EQ(out.find("@unused"), std::string::npos);
  EXPECT_NE(log.find("// ----- IR after dce -----"), std::string::npos);
}

TEST(RunOptTest, UnknownPassListsTheKnownOnes) {
  auto o = Parse({"-", "--passes=dce,nope"});
  ir::DiagnosticEngine diags;
  std::string out;
  Status s = RunOpt(*o, kModule, "t.spkir", diags, &out);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find(
                "unknown pass 'nope' (known: balance-delays, canonicalize, constant-fold, dce"),
            std::string_view::npos)
      << s;
}

TEST(RunOptTest, ParseErrorsAreDiagnostics) {
  auto o = Parse({"-"});
  ir::DiagnosticEngine diags;
  std::string out;
  EXPECT_FALSE(RunOpt(*o, "module {\n  %0 = \n}", "bad.spkir", diags, &out).ok());
  EXPECT_NE(diags.Render().find("bad.spkir:3:1: error: expected an op name"), std::string::npos)
      << diags.Render();
}

TEST(RunOptTest, ElidedOutput) {
  auto o = Parse({"-", "--elide-constants=2"});
  ir::DiagnosticEngine diags;
  std::string out;
  ASSERT_TRUE(RunOpt(*o, kModule, "t.spkir", diags, &out).ok());
  EXPECT_NE(out.find("constant @w : f32[2,2] = <elided 4 values>"), std::string::npos) << out;
  EXPECT_NE(out.find("constant @unused : f32[1] = [0.0]"), std::string::npos) << out;
}

TEST(ListTest, ListsPassesWithPipelinesAndOps) {
  std::string passes = ListPasses();
  EXPECT_NE(passes.find("fold-batch-norm"), std::string::npos);
  EXPECT_NE(passes.find("-O2: "), std::string::npos);
  EXPECT_NE(ListOps().find("cuba_lif"), std::string::npos);
}

}  // namespace
}  // namespace spk::compiler::tools
