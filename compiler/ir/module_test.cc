#include "compiler/ir/module.h"

#include <gtest/gtest.h>

#include "compiler/ir/printer.h"

namespace spk::compiler::ir {
namespace {

class ModuleTest : public ::testing::Test {
 protected:
  Value* Input(std::vector<int64_t> dims, ElementType e = ElementType::kF32, bool timed = true) {
    Operation* op =
        m_.CreateOp("input", {}, {Type(e, timed, std::move(dims))},
                    MakeAttrs({{"name", Attribute::String("x" + std::to_string(n_++))}}));
    return op->result(0);
  }
  Constant* Weight(std::string name, int64_t out, int64_t in) {
    auto c = m_.AddConstant(std::move(name), Type::Untimed(ElementType::kF32, {out, in}),
                            TensorData(std::vector<float>(static_cast<size_t>(out * in), 0.5f)));
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }

  Module m_;
  int n_ = 0;
};

TEST_F(ModuleTest, CreateInferredComputesResultTypes) {
  Value* x = Input({1, 4});
  Weight("fc.weight", 3, 4);
  auto lin =
      m_.CreateInferred("linear", {&x, 1}, MakeAttrs({{"weight", Attribute::Ref("fc.weight")}}));
  ASSERT_TRUE(lin.ok()) << lin.status();
  EXPECT_EQ((*lin)->result(0)->type().ToString(), "f32[T,1,3]");
  Value* h = (*lin)->result(0);
  auto lif = m_.CreateInferred(
      "lif", {&h, 1},
      MakeAttrs({{"tau", Attribute::Float(2.0)}, {"v_threshold", Attribute::Float(1.0)}}));
  ASSERT_TRUE(lif.ok()) << lif.status();
  EXPECT_EQ((*lif)->result(0)->type().ToString(), "spike[T,1,3]");
}

TEST_F(ModuleTest, CreateInferredRejectsBadOperandsWithoutCreating) {
  Value* x = Input({1, 4});
  Weight("fc.weight", 3, 5);
  size_t before = m_.num_ops();
  auto lin =
      m_.CreateInferred("linear", {&x, 1}, MakeAttrs({{"weight", Attribute::Ref("fc.weight")}}));
  EXPECT_EQ(lin.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(lin.status().message().find("takes 5 features"), std::string_view::npos);
  EXPECT_EQ(m_.num_ops(), before);
  EXPECT_EQ(m_.CreateInferred("softmax", {}).status().code(), StatusCode::kNotFound);
  auto host = m_.CreateInferred("host", {}, MakeAttrs({{"op", Attribute::String("x")}}));
  EXPECT_EQ(host.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ModuleTest, UseListsFollowOperandsAndReplaceAllUses) {
  Value* a = Input({2});
  Value* b = Input({2});
  Value* ops[] = {a, a};
  Operation* add = m_.CreateInferred("add", ops).value();
  EXPECT_EQ(a->uses().size(), 2u);
  a->ReplaceAllUsesWith(b);
  EXPECT_TRUE(a->unused());
  EXPECT_EQ(b->uses().size(), 2u);
  EXPECT_EQ(add->operand(0), b);
  add->SetOperand(1, a);
  EXPECT_EQ(a->uses().size(), 1u);
  EXPECT_EQ(a->uses()[0].operand_index, 1u);
  m_.EraseOp(add);
  EXPECT_TRUE(a->unused());
  EXPECT_TRUE(b->unused());
}

TEST_F(ModuleTest, InsertBeforeAndMove) {
  Value* a = Input({2});
  Operation* first = a->def();
  Operation* neg =
      m_.CreateInferred("mul_scalar", {&a, 1}, MakeAttrs({{"scalar", Attribute::Float(-1.0)}}))
          .value();
  Operation* early = m_.CreateInferred("mul_scalar", {&a, 1},
                                       MakeAttrs({{"scalar", Attribute::Float(2.0)}}), {}, neg)
                         .value();
  auto order = m_.OpsSnapshot();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], first);
  EXPECT_EQ(order[1], early);
  EXPECT_EQ(order[2], neg);
  m_.MoveBefore(neg, early);
  EXPECT_EQ(m_.OpsSnapshot()[1], neg);
}

TEST_F(ModuleTest, ConstantsAreUniqueAndMustMatchTheirType) {
  Weight("w", 2, 2);
  EXPECT_EQ(
      m_.AddConstant("w", Type::Untimed(ElementType::kF32, {1}), TensorData(std::vector<float>{1}))
          .status()
          .code(),
      StatusCode::kAlreadyExists);
  EXPECT_EQ(
      m_.AddConstant("n", Type::Untimed(ElementType::kF32, {3}), TensorData(std::vector<float>{1}))
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      m_.AddConstant("t", Type::Timed(ElementType::kF32, {1}), TensorData(std::vector<float>{1}))
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      m_.AddConstant("k", Type::Untimed(ElementType::kI8, {1}), TensorData(std::vector<float>{1}))
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(m_.UniqueConstantName("w"), "w.1");
  EXPECT_EQ(m_.UniqueConstantName("v"), "v");
  Weight("v", 1, 1);
  m_.EraseConstant("w");
  EXPECT_EQ(m_.FindConstant("w"), nullptr);
  ASSERT_NE(m_.FindConstant("v"), nullptr);
  EXPECT_EQ(m_.FindConstant("v")->name(), "v");
}

TEST_F(ModuleTest, DiagLocationFallsBackToTextPosition) {
  m_.set_source_name("net.spkir");
  Value* a = Input({2});
  Operation* op = a->def();
  op->set_text_position({7, 3});
  EXPECT_EQ(FormatFilePosition(op->DiagLocation()), "net.spkir:7:3");
  op->set_loc(Location{"model.py", 12, 8, "fc1", ""});
  EXPECT_EQ(FormatFilePosition(op->DiagLocation()), "model.py:12:8");
  op->set_loc(Location{"", 0, 0, "fc1", ""});
  Location loc = op->DiagLocation();
  EXPECT_EQ(FormatFilePosition(loc), "net.spkir:7:3");
  EXPECT_EQ(loc.module_path, "fc1");
}

TEST(ModuleDeathTest, ErasingAUsedOpIsAProgrammerError) {
  Module m;
  Operation* in = m.CreateOp("input", {}, {Type::Timed(ElementType::kF32, {2})},
                             MakeAttrs({{"name", Attribute::String("x")}}));
  Value* v = in->result(0);
  m.CreateOp("output", {&v, 1}, {}, MakeAttrs({{"name", Attribute::String("y")}}));
  EXPECT_DEATH(m.EraseOp(in), "still used");
}

TEST(OpRegistryTest, RejectsDuplicatesAndBadNames) {
  OpRegistry r;
  EXPECT_TRUE(r.Register({.name = "my_op"}).ok());
  EXPECT_EQ(r.Register({.name = "my_op"}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(r.Register({.name = "Bad"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Register({.name = "constant"}).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.Find("my_op"), nullptr);
}

TEST(OpRegistryTest, AddingAnOpIsOneRegistration) {
  // A new op in its own registry: parse, verify and print need nothing else.
  OpRegistry r;
  RegisterBuiltinOps(r);
  ASSERT_TRUE(r.Register({.name = "negate",
                          .summary = "-x",
                          .min_operands = 1,
                          .max_operands = 1,
                          .operands = {{kF32Only, TimeReq::kAny}},
                          .infer = [](const InferContext& ctx) -> StatusOr<std::vector<Type>> {
                            return std::vector<Type>{ctx.operands[0]};
                          }})
                  .ok());
  Module m(r);
  Operation* in = m.CreateOp("input", {}, {Type::Timed(ElementType::kF32, {2})},
                             MakeAttrs({{"name", Attribute::String("x")}}));
  Value* v = in->result(0);
  auto neg = m.CreateInferred("negate", {&v, 1});
  ASSERT_TRUE(neg.ok()) << neg.status();
  EXPECT_NE(PrintModule(m).find("%1 = negate(%0) : f32[T,2] -> f32[T,2]"), std::string::npos);
}

TEST(OpRegistryTest, DescribesConstraints) {
  EXPECT_EQ(DescribeConstraint({kEvents, TimeReq::kTimed}), "timed spike or graded");
  EXPECT_EQ(DescribeConstraint({kActivations, TimeReq::kAny}), "spike, graded or f32");
  EXPECT_EQ(DescribeConstraint({kAnyElement, TimeReq::kUntimed}), "untimed any type");
}

}  // namespace
}  // namespace spk::compiler::ir
