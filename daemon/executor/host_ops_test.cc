#include "daemon/executor/host_ops.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::executor {
namespace {

using hal::format::HostSegment;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

HostValue Timed(std::vector<int64_t> shape, std::vector<float> data) {
  return HostValue{true, std::move(shape), std::move(data)};
}

HostSegment Segment(std::string op, std::string attrs, std::vector<std::string> inputs) {
  HostSegment s;
  s.name = "seg";
  s.op = std::move(op);
  s.attributes = std::move(attrs);
  s.inputs = std::move(inputs);
  s.outputs = {"y"};
  return s;
}

StatusOr<HostValue> Apply1(const HostSegment& s, std::vector<HostValue> in) {
  SPK_ASSIGN_OR_RETURN(auto op, HostOp::Create(s));
  std::vector<const HostValue*> args;
  for (auto& v : in) args.push_back(&v);
  return op->Apply(args);
}

TEST(HostOpsTest, LinearOverLastDim) {
  HostSegment s = Segment("linear", "", {"x"});
  s.tensors = {{"weight", {2, 3}, {1, 0, 0, 0, 1, 2}}, {"bias", {2}, {10, 20}}};
  auto y = Apply1(s, {Timed({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->shape, ElementsAre(2, 2));
  EXPECT_THAT(y->data, ElementsAre(11, 28, 14, 37));
}

TEST(HostOpsTest, MeanOverTimeIsNotPointwise) {
  auto op = HostOp::Create(Segment("mean", R"({"dims": [0]})", {"x"}));
  ASSERT_TRUE(op.ok());
  EXPECT_FALSE((*op)->pointwise_in_time());
  HostValue x = Timed({2, 2}, {1, 2, 3, 6});
  const HostValue* args[] = {&x};
  auto y = (*op)->Apply(args);
  ASSERT_TRUE(y.ok());
  EXPECT_FALSE(y->timed);
  EXPECT_THAT(y->data, ElementsAre(2, 4));
}

TEST(HostOpsTest, SumKeepDimAndPerStep) {
  auto y = Apply1(Segment("sum", R"({"dims": [2], "keepdim": true})", {"x"}),
                  {Timed({1, 2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(y->timed);
  EXPECT_THAT(y->shape, ElementsAre(1, 2, 1));
  EXPECT_THAT(y->data, ElementsAre(6, 15));
}

TEST(HostOpsTest, MatmulTransposedAndScaled) {
  // a [1, 2, 2] x b^T where b [1, 2, 2]
  auto y = Apply1(Segment("matmul", R"({"transpose_b": true, "scale": 0.5})", {"a", "b"}),
                  {Timed({1, 2, 2}, {1, 0, 1, 1}), Timed({1, 2, 2}, {1, 1, 0, 1})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->data, ElementsAre(0.5, 0, 1, 0.5));
}

TEST(HostOpsTest, BroadcastAddAndPermute) {
  auto sum = Apply1(Segment("add", "", {"a", "b"}),
                    {Timed({1, 2, 2}, {1, 2, 3, 4}), HostValue{false, {2}, {10, 20}}});
  ASSERT_TRUE(sum.ok());
  EXPECT_THAT(sum->data, ElementsAre(11, 22, 13, 24));
  auto perm = Apply1(Segment("transpose", R"({"dim0": 1, "dim1": 2})", {"x"}), {*sum});
  ASSERT_TRUE(perm.ok());
  EXPECT_THAT(perm->data, ElementsAre(11, 13, 22, 24));
}

TEST(HostOpsTest, ErrorsNameTheSegment) {
  auto unknown = HostOp::Create(Segment("softmax", "", {"x"}));
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("'seg': unknown op 'softmax'"));
  auto bad_attrs = HostOp::Create(Segment("mean", "{not json", {"x"}));
  EXPECT_THAT(std::string(bad_attrs.status().message()), HasSubstr("not a JSON object"));
  auto arity = HostOp::Create(Segment("add", "", {"x"}));
  EXPECT_THAT(std::string(arity.status().message()), HasSubstr("takes 2 input(s)"));
  HostSegment linear = Segment("linear", "", {"x"});
  linear.tensors = {{"weight", {2, 3}, {1, 2, 3}}};
  EXPECT_THAT(std::string(HostOp::Create(linear).status().message()), HasSubstr("holds 3 values"));
  auto misfit =
      Apply1(Segment("reshape", R"({"shape": [5]})", {"x"}), {Timed({1, 4}, {1, 2, 3, 4})});
  EXPECT_THAT(std::string(misfit.status().message()), HasSubstr("cannot reshape"));
}

}  // namespace
}  // namespace spk::executor
