#include "compiler/ir/parser.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"

namespace spk::compiler::ir {
namespace {

constexpr std::string_view kHeader = "module attributes {timesteps = 4} {\n";

TEST(ParserTest, ParsesOpsConstantsAttributesAndLocations) {
  std::string text = std::string(kHeader) + R"(  constant @w : f32[2,2] = [1, 2.5, -0.0, 1e-3]
  %x = input() {name = "x", spk.note = [1, 2.5]} : () -> f32[T,1,2] loc("m.py":3:4 "in" op "aten::x")
  %y = linear(%x) {weight = @w} : f32[T,1,2] -> f32[T,1,2]
  %s = lif(%y) {tau = 2, v_threshold = 1} : f32[T,1,2] -> spike[T,1,2]
  output(%s) {name = "y"} : spike[T,1,2] -> ()
}
)";
  DiagnosticEngine diags;
  auto m = ParseModule(text, "t.spkir", diags);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(VerifyModule(**m, diags).ok()) << diags.Render();
  EXPECT_EQ((*m)->timesteps(), 4);
  const Constant* w = (*m)->FindConstant("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->data().f32()[1], 2.5f);
  EXPECT_TRUE(std::signbit(w->data().f32()[2]));
  const Operation& in = *(*m)->ops().front();
  EXPECT_EQ(in.loc(), (Location{"m.py", 3, 4, "in", "aten::x"}));
  EXPECT_EQ(in.text_position().line, 3);
  EXPECT_EQ(in.text_position().col, 3);
  EXPECT_EQ(*in.attrs().Find("spk.note"), Attribute::FloatList({1.0, 2.5}));
  // Integers where the op wants floats are converted.
  const Operation& lif = **std::next((*m)->ops().begin(), 2);
  EXPECT_EQ(lif.attrs().GetFloat("tau"), 2.0);
  EXPECT_EQ(lif.attrs().GetFloat("v_threshold"), 1.0);
}

TEST(ParserTest, MultipleResultsAndOpenAttributes) {
  std::string text = std::string(kHeader) + R"(  %a = input() {name = "a"} : () -> graded[T,2]
  %h, %g = host(%a, %a) {op = "spike_matmul", heads = 2, flag = true} : (graded[T,2], graded[T,2]) -> (f32[2], graded[T,2])
  output(%g) {name = "g"} : graded[T,2] -> ()
}
)";
  DiagnosticEngine diags;
  auto m = ParseModule(text, "t.spkir", diags);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(VerifyModule(**m, diags).ok()) << diags.Render();
  const Operation& host = **std::next((*m)->ops().begin());
  EXPECT_EQ(host.num_results(), 2u);
  EXPECT_EQ(host.attrs().GetInt("heads"), 2);
}

TEST(ParserTest, ForwardReferencesParseAndTheVerifierReportsThem) {
  std::string text = std::string(kHeader) +
                     R"(  %s = lif(%y) {tau = 2.0, v_threshold = 1.0} : f32[T,2] -> spike[T,2]
  %y = input() {name = "y"} : () -> f32[T,2]
}
)";
  DiagnosticEngine diags;
  auto m = ParseModule(text, "fwd.spkir", diags);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(VerifyModule(**m, diags).ok());
  EXPECT_NE(diags.Render().find("fwd.spkir:2:3: error: 'lif' op operand #0 is used before its "
                                "definition by 'input' at fwd.spkir:3:3"),
            std::string::npos)
      << diags.Render();
}

struct ErrorCase {
  std::string name;
  std::string body;      // inside the module
  std::string expected;  // substring of the rendered error, with line:col
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ParserErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrorTest, ReportsPositionAndWhatWasExpected) {
  std::string text = std::string(kHeader) + GetParam().body + "\n}\n";
  DiagnosticEngine diags;
  auto m = ParseModule(text, "e.spkir", diags);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(m.status().message()).find(GetParam().expected), std::string::npos)
      << m.status();
  ASSERT_EQ(diags.error_count(), 1u);
  EXPECT_EQ(FormatDiagnostic(diags.diagnostics()[0]), m.status().message());
}

const char kIn[] = "  %x = input() {name = \"x\"} : () -> f32[T,2]\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, ParserErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownOp", "  %0 = softmax() : () -> f32[2]",
                  "e.spkir:2:8: error: unknown op 'softmax'"},
        ErrorCase{"MissingParen", "  %0 = input( : () -> f32[2]",
                  "e.spkir:2:15: error: expected an operand such as %3 or ')', got ':'"},
        ErrorCase{"MissingSignature", "  %0 = input() {name = \"x\"}",
                  "e.spkir:3:1: error: expected ':' and the op's type signature, got '}'"},
        ErrorCase{"UnknownElementType", "  %0 = input() : () -> f64[2]",
                  "e.spkir:2:24: error: unknown element type 'f64'"},
        ErrorCase{"TNotFirst", "  %0 = input() : () -> f32[2,T]",
                  "e.spkir:2:30: error: T may only be the first dim"},
        ErrorCase{"NegativeDim", "  %0 = input() : () -> f32[-2]",
                  "e.spkir:2:28: error: dims must be >= 0"},
        ErrorCase{"HugeShape", "  %0 = input() : () -> f32[1048576,1048576,1048576]",
                  "error: shape has too many elements"},
        ErrorCase{"UndefinedValue", std::string(kIn) + "  output(%nope) : f32[T,2] -> ()",
                  "e.spkir:3:10: error: use of undefined value %nope"},
        ErrorCase{"Redefinition", std::string(kIn) + "  %x = input() : () -> f32[T,2]",
                  "e.spkir:3:3: error: redefinition of %x (first defined at 2:3)"},
        ErrorCase{"SignatureMismatch",
                  std::string(kIn) + "  output(%x) {name = \"y\"} : f32[T,3] -> ()",
                  "e.spkir:3:27: error: operand #0 (%x) has type f32[T,2] but the signature "
                  "says f32[T,3]"},
        ErrorCase{"OperandTypeCount", std::string(kIn) + "  output(%x) : () -> ()",
                  "e.spkir:3:16: error: the signature lists 0 operand types for 1 operands"},
        ErrorCase{"ResultTypeCount", "  %a, %b = input() : () -> f32[2]",
                  "e.spkir:2:28: error: the signature lists 1 result types for 2 named results"},
        ErrorCase{"DuplicateAttribute",
                  "  %0 = input() {name = \"a\", name = \"b\"} : () -> f32[2]",
                  "e.spkir:2:29: error: attribute 'name' is given twice"},
        ErrorCase{"BadAttributeValue", "  %0 = input() {name = %x} : () -> f32[2]",
                  "e.spkir:2:24: error: expected an attribute value"},
        ErrorCase{"IntOverflow", "  %0 = input() {n = 99999999999999999999} : () -> f32[2]",
                  "e.spkir:2:21: error: integer '99999999999999999999' is out of range"},
        ErrorCase{"UnterminatedString", "  %0 = input() {name = \"abc} : () -> f32[2]",
                  "e.spkir:2:24: error: unterminated string"},
        ErrorCase{"BadEscape", "  %0 = input() {name = \"a\\qb\"} : () -> f32[2]",
                  "e.spkir:2:24: error: unknown escape \\q in string"},
        ErrorCase{"StrayCharacter", "  %0 = input() # : () -> f32[2]",
                  "e.spkir:2:16: error: unexpected character '#'"},
        ErrorCase{"ControlByte", std::string("  %0 = input() \x01"),
                  "e.spkir:2:16: error: unexpected character byte 0x01"},
        ErrorCase{"ConstantTooFewValues", "  constant @w : f32[3] = [1, 2]",
                  "e.spkir:2:31: error: constant @w of type f32[3] needs 3 values, got 2"},
        ErrorCase{"ConstantTooManyValues", "  constant @w : f32[1] = [1, 2]",
                  "e.spkir:2:30: error: constant @w of type f32[1] needs 1 values, got more"},
        ErrorCase{"ConstantIntRange", "  constant @w : i8[2] = [1, 128]",
                  "e.spkir:2:29: error: value 128 is out of range for i8"},
        ErrorCase{"ConstantIntFromFloat", "  constant @w : i16[1] = [1.5]",
                  "e.spkir:2:27: error: expected an integer, got '1.5'"},
        ErrorCase{"ConstantTimed", "  constant @w : f32[T,1] = [1]",
                  "e.spkir:2:17: error: constant type must be an untimed f32, i8, i16 or i32"},
        ErrorCase{"ConstantTwice", "  constant @w : f32[1] = [1]\n  constant @w : f32[1] = [1]",
                  "e.spkir:3:12: error: constant @w is defined twice"},
        ErrorCase{"ConstantElided", "  constant @w : f32[99] = <elided 99 values>",
                  "e.spkir:2:27: error: constant @w was printed with its data elided"},
        ErrorCase{"FloatOutOfRangeForF32", "  constant @w : f32[1] = [1e39]",
                  "e.spkir:2:27: error: number '1e39' is out of range for f32"},
        ErrorCase{"BadLocation", "  %0 = input() : () -> f32[2] loc(\"a.py\":x)",
                  "e.spkir:2:42: error: expected an integer, got 'x'"},
        ErrorCase{"LocationOpNeedsString", "  %0 = input() : () -> f32[2] loc(op 3)",
                  "e.spkir:2:38: error: expected a string after 'op', got '3'"},
        ErrorCase{"ExtraBrace", "}",
                  "e.spkir:3:1: error: expected end of input after the module, got '}'"}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return p.param.name; });

TEST(ParserTest, MissingModuleAndTrailingText) {
  auto m = ParseModule("%0 = input()", "x.spkir");
  EXPECT_NE(m.status().message().find("x.spkir:1:1: error: expected 'module', got '%0'"),
            std::string_view::npos)
      << m.status();
  m = ParseModule("module {\n}\nmodule {\n}\n", "x.spkir");
  EXPECT_NE(m.status().message().find("x.spkir:3:1: error: expected end of input after the module"),
            std::string_view::npos)
      << m.status();
  m = ParseModule("module {\n  %0 = input() : () -> f32[2]\n", "x.spkir");
  EXPECT_NE(m.status().message().find("x.spkir:3:1: error: expected '}' to close the module, got "
                                      "end of input"),
            std::string_view::npos)
      << m.status();
  m = ParseModule("", "x.spkir");
  EXPECT_NE(m.status().message().find("x.spkir:1:1: error: expected 'module', got end of input"),
            std::string_view::npos)
      << m.status();
}

TEST(ParserTest, LongTokensAreShortenedInMessages) {
  std::string name(100, 'a');
  auto m = ParseModule("module {\n  %0 = " + name + "() : () -> f32[2]\n}\n", "x.spkir");
  ASSERT_FALSE(m.ok());
  EXPECT_LT(m.status().message().size(), 120u);
}

}  // namespace
}  // namespace spk::compiler::ir
