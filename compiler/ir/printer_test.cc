#include "compiler/ir/printer.h"

#include <gtest/gtest.h>

#include "compiler/ir/parser.h"

namespace spk::compiler::ir {
namespace {

std::unique_ptr<Module> SmallModule() {
  auto m = std::make_unique<Module>(DefaultOpRegistry(), "mlp");
  m->mutable_attrs().Set("timesteps", Attribute::Int(4));
  std::vector<float> w(20);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) / 4.0f;
  EXPECT_TRUE(m->AddConstant("fc1.weight", Type::Untimed(ElementType::kF32, {5, 4}),
                             TensorData(std::move(w)))
                  .ok());
  EXPECT_TRUE(m->AddConstant("odd name", Type::Untimed(ElementType::kI8, {2}),
                             TensorData(std::vector<int8_t>{-128, 127}))
                  .ok());
  Operation* in =
      m->CreateOp("input", {}, {Type::Untimed(ElementType::kF32, {1, 4})},
                  MakeAttrs({{"name", Attribute::String("x")}}), Location{"mlp.py", 10, 4, "", ""});
  Value* x = in->result(0);
  Value* xt = m->CreateInferred("repeat_t", {&x, 1}).value()->result(0);
  Value* h =
      m->CreateInferred("linear", {&xt, 1}, MakeAttrs({{"weight", Attribute::Ref("fc1.weight")}}),
                        Location{"mlp.py", 12, 8, "fc1", "aten::linear"})
          .value()
          ->result(0);
  Value* s =
      m->CreateInferred(
           "lif", {&h, 1},
           MakeAttrs({{"v_threshold", Attribute::Float(1.0)}, {"tau", Attribute::Float(2.0)}}),
           Location{"mlp.py", 13, 8, "fc1_lif", ""})
          .value()
          ->result(0);
  m->CreateOp("output", {&s, 1}, {}, MakeAttrs({{"name", Attribute::String("y")}}));
  return m;
}

TEST(PrinterTest, PrintsTheDocumentedForm) {
  EXPECT_EQ(PrintModule(*SmallModule()),
            R"(module @mlp attributes {timesteps = 4} {
  constant @fc1.weight : f32[5,4] = [
      0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75,
      2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75,
      4.0, 4.25, 4.5, 4.75
  ]
  constant @"odd name" : i8[2] = [-128, 127]

  %0 = input() {name = "x"} : () -> f32[1,4] loc("mlp.py":10:4)
  %1 = repeat_t(%0) : f32[1,4] -> f32[T,1,4]
  %2 = linear(%1) {weight = @fc1.weight} : f32[T,1,4] -> f32[T,1,5] loc("mlp.py":12:8 "fc1" op "aten::linear")
  %3 = lif(%2) {tau = 2.0, v_threshold = 1.0} : f32[T,1,5] -> spike[T,1,5] loc("mlp.py":13:8 "fc1_lif")
  output(%3) {name = "y"} : spike[T,1,5] -> ()
}
)");
}

TEST(PrinterTest, ElidesLargeConstantsOnlyWhenAsked) {
  auto m = SmallModule();
  PrintOptions options;
  options.elide_constants_over = 8;
  std::string text = PrintModule(*m, options);
  EXPECT_NE(text.find("constant @fc1.weight : f32[5,4] = <elided 20 values>"), std::string::npos);
  EXPECT_NE(text.find("@\"odd name\" : i8[2] = [-128, 127]"), std::string::npos);
  auto parsed = ParseModule(text, "elided.spkir");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("elided.spkir:2:37: error: constant @fc1.weight was "
                                           "printed with its data elided"),
            std::string_view::npos)
      << parsed.status();
}

TEST(PrinterTest, LocationsCanBeLeftOut) {
  PrintOptions options;
  options.print_locations = false;
  EXPECT_EQ(PrintModule(*SmallModule(), options).find("loc("), std::string::npos);
}

TEST(PrinterTest, LocationForms) {
  Module m;
  auto add = [&](Location loc) {
    m.CreateOp("input", {}, {Type::Untimed(ElementType::kF32, {1})},
               MakeAttrs({{"name", Attribute::String("x" + std::to_string(m.num_ops()))}}), loc);
  };
  add(Location{"", 0, 0, "blocks.0", ""});
  add(Location{"", 0, 0, "", "aten::add"});
  add(Location{"a.py", 3, 0, "", ""});
  std::string text = PrintModule(m);
  EXPECT_NE(text.find("loc(\"blocks.0\")"), std::string::npos) << text;
  EXPECT_NE(text.find("loc(op \"aten::add\")"), std::string::npos) << text;
  EXPECT_NE(text.find("loc(\"a.py\":3:0)"), std::string::npos) << text;
}

TEST(PrinterTest, QuotesAndEscapes) {
  EXPECT_EQ(QuoteString("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\x01")");
  EXPECT_EQ(SymbolText("blocks.0.attn.q_linear.weight"), "@blocks.0.attn.q_linear.weight");
  EXPECT_EQ(SymbolText("a b"), "@\"a b\"");
  EXPECT_EQ(SymbolText(""), "@\"\"");
}

TEST(PrinterTest, PrintOpNumbersLikeTheModule) {
  auto m = SmallModule();
  const Operation& lif = **std::next(m->ops().begin(), 3);
  EXPECT_EQ(PrintOp(lif).substr(0, 14), "%3 = lif(%2) {");
}

}  // namespace
}  // namespace spk::compiler::ir
