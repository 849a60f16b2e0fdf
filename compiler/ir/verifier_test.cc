#include "compiler/ir/verifier.h"

#include <gtest/gtest.h>

#include "compiler/ir/parser.h"

namespace spk::compiler::ir {
namespace {

// Parses `body` inside a module with a few constants, verifies it, and
// returns the rendered diagnostics ("" when valid).
std::string VerifyText(const std::string& body, std::string attrs = "{timesteps = 4}") {
  std::string text = "module attributes " + attrs + " {\n" +
                     "  constant @w : f32[3,2] = [1, 2, 3, 4, 5, 6]\n"
                     "  constant @b : f32[3] = [1, 2, 3]\n"
                     "  constant @q : i8[3,2] = [1, -2, 3, -4, 5, -6]\n"
                     "  constant @big : i16[3,2] = [1, 2, 300, 4, 5, 6]\n"
                     "  constant @bias : i16[3] = [0, 5000, 0]\n"
                     "  constant @rp : i32[3] = [1, 2, 1]\n"
                     "  constant @col : i32[1] = [7]\n"
                     "  constant @wv : i8[1] = [1]\n"
                     "  %x = input() {name = \"x\"} : () -> f32[T,1,2] loc(\"m.py\":1:1 \"in\")\n" +
                     body + "}\n";
  DiagnosticEngine diags;
  auto m = ParseModule(text, "v.spkir", diags);
  if (!m.ok()) return "PARSE: " + std::string(m.status().message());
  Status s = VerifyModule(**m, diags);
  EXPECT_EQ(s.ok(), !diags.has_errors());
  return diags.Render();
}

TEST(VerifierTest, ValidModulePasses) {
  EXPECT_EQ(VerifyText("  %h = linear(%x) {weight = @w, bias = @b} : f32[T,1,2] -> f32[T,1,3]\n"
                       "  output(%h) {name = \"h\"} : f32[T,1,3] -> ()\n"),
            "");
}

TEST(VerifierTest, UseBeforeDefinition) {
  std::string d = VerifyText(
      "  %s = lif(%h) {tau = 2.0, v_threshold = 1.0} : f32[T,1,3] -> spike[T,1,3] "
      "loc(\"m.py\":5:3 \"fc1_lif\")\n"
      "  %h = linear(%x) {weight = @w} : f32[T,1,2] -> f32[T,1,3]\n");
  EXPECT_NE(d.find("m.py:5:3: error: 'lif' op operand #0 is used before its definition by "
                   "'linear' at v.spkir:12:3 [fc1_lif]"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, OperandCount) {
  std::string d = VerifyText("  %a = add(%x) : f32[T,1,2] -> f32[T,1,2]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'add' op expects 2 operands, got 1"), std::string::npos)
      << d;
}

TEST(VerifierTest, ResultCount) {
  std::string d = VerifyText(
      "  output(%x) {name = \"y\"} : f32[T,1,2] -> ()\n"
      "  %r = output(%x) {name = \"z\"} : f32[T,1,2] -> f32[T,1,2]\n");
  EXPECT_NE(d.find("v.spkir:12:3: error: 'output' op expects 0 results, got 1"), std::string::npos)
      << d;
}

TEST(VerifierTest, OperandTypeConstraint) {
  std::string d = VerifyText(
      "  %s = syn_dense(%x) {weight = @q, weight_exp = 0} : f32[T,1,2] -> graded[T,1,3]\n"
      "  %u = input() {name = \"u\"} : () -> f32[1,2]\n"
      "  %l = lif(%u) {tau = 2.0, v_threshold = 1.0} : f32[1,2] -> spike[1,2]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'syn_dense' op operand #0 must be timed spike or graded, "
                   "got f32[T,1,2]"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:13:3: error: 'lif' op operand #0 must be timed spike, graded or f32, "
                   "got f32[1,2]"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, MissingRequiredAttribute) {
  std::string d = VerifyText("  %s = lif(%x) {tau = 2.0} : f32[T,1,2] -> spike[T,1,2]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'lif' op missing required attribute 'v_threshold' "
                   "(float)"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, AttributeKind) {
  std::string d =
      VerifyText("  %s = lif(%x) {tau = \"2\", v_threshold = 1.0} : f32[T,1,2] -> spike[T,1,2]\n");
  EXPECT_NE(d.find("'lif' op attribute 'tau' must be float, got string"), std::string::npos) << d;
}

TEST(VerifierTest, AttributeRange) {
  std::string d = VerifyText(
      "  %s = lif(%x) {tau = 0.5, v_threshold = 1.0} : f32[T,1,2] -> spike[T,1,2] "
      "loc(\"net.py\":7:9 \"blocks.0.attn.q_lif\" op \"prim::CallMethod\")\n");
  EXPECT_EQ(d,
            "net.py:7:9: error: 'lif' op attribute 'tau' must be >= 1, got 0.5 "
            "[blocks.0.attn.q_lif prim::CallMethod]\n");
}

TEST(VerifierTest, ListSizeAndElementRange) {
  std::string d = VerifyText(
      "  %i = input() {name = \"img\"} : () -> f32[T,1,3,4,4]\n"
      "  %p = max_pool2d(%i) {kernel_size = [2, 2, 2]} : f32[T,1,3,4,4] -> f32[T,1,3,2,2]\n"
      "  %q = max_pool2d(%i) {kernel_size = [2, 0]} : f32[T,1,3,4,4] -> f32[T,1,3,2,2]\n");
  EXPECT_NE(d.find("v.spkir:12:3: error: 'max_pool2d' op attribute 'kernel_size' must have 2 "
                   "elements, got 3"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:13:3: error: 'max_pool2d' op attribute 'kernel_size' element 1 must "
                   "be in [1, 1048576], got 0"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, UnknownAttributeButAnnotationsAreFine) {
  std::string d = VerifyText(
      "  %s = lif(%x) {tau = 2.0, v_threshold = 1.0, tua = 3.0, partition.core = 4} : "
      "f32[T,1,2] -> spike[T,1,2]\n");
  EXPECT_EQ(d, "v.spkir:11:3: error: 'lif' op unknown attribute 'tua'\n");
}

TEST(VerifierTest, UnknownConstant) {
  std::string d = VerifyText("  %h = linear(%x) {weight = @nope} : f32[T,1,2] -> f32[T,1,3]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'linear' op attribute 'weight' refers to unknown "
                   "constant @nope"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, DeclaredResultTypeDisagreesWithInference) {
  std::string d = VerifyText("  %h = linear(%x) {weight = @w} : f32[T,1,2] -> f32[T,1,4]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'linear' op result #0 is declared f32[T,1,4] but the "
                   "operands and attributes give f32[T,1,3]"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, ShapeInferenceError) {
  std::string d = VerifyText(
      "  %r = reshape(%x) {shape = [3]} : f32[T,1,2] -> f32[T,3]\n"
      "  %t = transpose(%x) {dim0 = 0, dim1 = 1} : f32[T,1,2] -> f32[T,1,2]\n"
      "  %m = matmul(%x, %x) : (f32[T,1,2], f32[T,1,2]) -> f32[T,1,2]\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'reshape' op cannot reshape f32[T,1,2] (2 elements per "
                   "step) to [3]"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:12:3: error: 'transpose' op dim0 = 0 names the time dimension"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:13:3: error: 'matmul' op inner dims differ"), std::string::npos) << d;
}

TEST(VerifierTest, ConstantOfWrongKind) {
  std::string d = VerifyText("  %h = linear(%x) {weight = @q} : f32[T,1,2] -> f32[T,1,3]\n");
  EXPECT_NE(d.find("'linear' op weight @q must be a rank-2 f32 constant, got i8[3,2]"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, OpSpecificRules) {
  std::string d = VerifyText(
      "  %s = input() {name = \"s\"} : () -> spike[T,1,2]\n"
      "  %a = syn_dense(%s) {weight = @big, weight_exp = 0} : spike[T,1,2] -> graded[T,1,3]\n"
      "  %n = cuba_lif(%a) {du = 0, dv = 0, vth = 10, bias_mant = @bias} : graded[T,1,3] -> "
      "spike[T,1,3]\n"
      "  %c = syn_sparse(%s) {row_ptr = @rp, col = @col, weight = @wv, out_features = 4, "
      "weight_exp = 0} : spike[T,1,2] -> graded[T,1,4]\n"
      "  %l = lif(%x) {tau = 2.0, v_threshold = 0.0, v_reset = 0.5} : f32[T,1,2] -> "
      "spike[T,1,2]\n");
  EXPECT_NE(d.find("v.spkir:12:3: error: 'syn_dense' op weight @big element 2 = 300 is outside "
                   "[-256, 255]"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:13:3: error: 'cuba_lif' op bias_mant @bias element 1 = 5000 is "
                   "outside [-4096, 4095]"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:14:3: error: 'syn_sparse' op row_ptr @rp must start at 0 and end at "
                   "the number of synapses (1)"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:14:3: error: 'syn_sparse' op row_ptr @rp decreases at index 2"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:14:3: error: 'syn_sparse' op col @col element 0 = 7 is not a target "
                   "in [0, 4)"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:15:3: error: 'lif' op v_threshold must be above v_reset"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, DuplicateInputAndOutputNames) {
  std::string d = VerifyText(
      "  %y = input() {name = \"x\"} : () -> f32[T,1,2]\n"
      "  output(%x) {name = \"o\"} : f32[T,1,2] -> ()\n"
      "  output(%y) {name = \"o\"} : f32[T,1,2] -> ()\n");
  EXPECT_NE(d.find("v.spkir:11:3: error: 'input' op name \"x\" is used by another 'input'"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("v.spkir:13:3: error: 'output' op name \"o\" is used by another 'output'"),
            std::string::npos)
      << d;
}

TEST(VerifierTest, ModuleAttributes) {
  EXPECT_NE(VerifyText("", "{timesteps = 0}").find("module attribute 'timesteps' must be"),
            std::string::npos);
  EXPECT_NE(VerifyText("", "{timesteps = 4, steps = 3}").find("unknown module attribute 'steps'"),
            std::string::npos);
  EXPECT_EQ(VerifyText("", "{timesteps = 4, spk.model = \"x\"}"), "");
}

TEST(VerifierTest, ReportsEveryProblemNotJustTheFirst) {
  std::string d = VerifyText(
      "  %a = lif(%x) {tau = 0.5, v_threshold = 1.0} : f32[T,1,2] -> spike[T,1,2]\n"
      "  %b = linear(%x) {weight = @w} : f32[T,1,2] -> f32[T,1,9]\n"
      "  %c = add(%x) : f32[T,1,2] -> f32[T,1,2]\n"
      "  %d = lif(%x) {v_threshold = 1.0, bogus = 1} : f32[T,1,2] -> spike[T,1,2]\n");
  size_t lines = static_cast<size_t>(std::count(d.begin(), d.end(), '\n'));
  EXPECT_EQ(lines, 5u) << d;  // the last op has two problems
  for (int line = 11; line <= 14; ++line) {
    EXPECT_NE(d.find("v.spkir:" + std::to_string(line) + ":3: error: '"), std::string::npos) << d;
  }
}

TEST(VerifierTest, InMemoryConstantMismatch) {
  Module m;
  auto c = m.AddConstant("w", Type::Untimed(ElementType::kF32, {2}),
                         TensorData(std::vector<float>{1, 2}));
  ASSERT_TRUE(c.ok());
  (*c)->mutable_data() = TensorData(std::vector<float>{1, 2, 3});
  DiagnosticEngine diags;
  EXPECT_FALSE(VerifyModule(m, diags).ok());
  EXPECT_NE(diags.Render().find("constant @w of type f32[2] holds 3 f32 values"), std::string::npos)
      << diags.Render();
}

TEST(VerifierTest, OperandFromAnotherModule) {
  Module a, b;
  auto make_input = [](Module& m) {
    return m
        .CreateOp("input", {}, {Type::Timed(ElementType::kF32, {2})},
                  MakeAttrs({{"name", Attribute::String("x")}}))
        ->result(0);
  };
  Value* va = make_input(a);
  Value* vb = make_input(b);
  Operation* out = a.CreateOp("output", {&va, 1}, {}, MakeAttrs({{"name", Attribute::String("y")}}),
                              Location{"o.py", 9, 1, "head", ""});
  out->SetOperand(0, vb);  // the API allows it; the verifier must not
  DiagnosticEngine diags;
  EXPECT_FALSE(VerifyModule(a, diags).ok());
  EXPECT_EQ(diags.Render(),
            "o.py:9:1: error: 'output' op operand #0 is not a value of this module [head]\n");
  out->SetOperand(0, va);  // before the modules go away
}

TEST(VerifierTest, AttributeNamesMustBeIdentifiers) {
  Module m;
  Operation* op =
      m.CreateOp("input", {}, {Type::Timed(ElementType::kF32, {2})},
                 MakeAttrs({{"name", Attribute::String("x")}, {"bad name", Attribute::Int(1)}}));
  op->set_loc(Location{"a.py", 2, 3, "", ""});
  DiagnosticEngine diags;
  EXPECT_FALSE(VerifyModule(m, diags).ok());
  EXPECT_NE(diags.Render().find("a.py:2:3: error: 'input' op attribute name 'bad name' is not an "
                                "identifier"),
            std::string::npos)
      << diags.Render();
}

}  // namespace
}  // namespace spk::compiler::ir
