#include "daemon/executor/executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim/sim_device.h"
#include "sim/sim_test_util.h"

namespace spk::executor {
namespace {

using hal::format::BoardImage;
using hal::format::HostSegment;
using hal::format::NeuronModel;
using hal::format::OutputSource;
using hal::format::SpikeKind;
using sim::testing::ImageBuilder;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr uint32_t kWidth = 4;

std::vector<int16_t> Identity(uint32_t n, int16_t w = 2) {
  std::vector<int16_t> m(n * n, 0);
  for (uint32_t i = 0; i < n; ++i) m[i * n + i] = w;
  return m;
}

// A group that re-emits its input one step later: no memory (du = dv = 4095)
// and a zero threshold.
void Relay(hal::format::NeuronGroup& g) {
  g.du = 4095;
  g.dv = 4095;
  g.vth = 0;
}

HostSegment Seg(std::string name, std::string op, std::string attrs,
                std::vector<std::string> inputs, std::string output) {
  HostSegment s;
  s.name = std::move(name);
  s.op = std::move(op);
  s.attributes = std::move(attrs);
  s.inputs = std::move(inputs);
  s.outputs = {std::move(output)};
  return s;
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto device = sim::SimDevice::Create(sim::testing::TestChip(), sim::testing::TestBoard());
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = std::move(*device);
  }

  // x (binary, 4) -> relay group -> output port "spikes" (delay 1).
  BoardImage RelayImage(uint32_t timesteps) {
    ImageBuilder b(1);
    b.AddInput("x", kWidth);
    Relay(b.AddGroup(1, 0, kWidth));
    b.AddDense(1, ImageBuilder::Input(0), 1, Identity(kWidth));
    b.AddOutput("spikes", 1, OutputSource::kSpikes);
    BoardImage image = b.Build();
    image.outputs[0].delay = 1;
    image.meta.timesteps = timesteps;
    image.meta.run_steps = timesteps + 1;
    return image;
  }

  std::unique_ptr<Executor> Make(const BoardImage& image) {
    auto program = device_->Load(image, hal::Partition{{0, 1}});
    EXPECT_TRUE(program.ok()) << program.status();
    auto e = Executor::Create(image, device_.get(), *program);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }

  std::unique_ptr<sim::SimDevice> device_;
};

TEST_F(ExecutorTest, DirectCodingThroughChipAndHead) {
  BoardImage image = RelayImage(3);
  image.host_segments.push_back(Seg("count", "sum", R"({"dims": [0]})", {"spikes"}, "count"));
  HostSegment head = Seg("head", "linear", "", {"count"}, "scores");
  head.tensors = {{"weight", {2, 4}, {1, 1, 0, 0, 0, 0, 1, 1}}};
  image.host_segments.push_back(head);
  auto e = Make(image);
  ASSERT_NE(e, nullptr);
  EXPECT_THAT(e->outputs(), ElementsAre("scores"));

  HostValue x{false, {kWidth}, {1, 0, 1, 1}};
  auto r = e->Infer({{"x", x}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->outputs["scores"].data, ElementsAre(3, 6));
  // The chip's port is reported too, per step, even though the head read it.
  ASSERT_TRUE(r->ports.count("spikes"));
  EXPECT_THAT(r->ports["spikes"].shape, ElementsAre(3, kWidth));
  EXPECT_THAT(r->ports["spikes"].data, ElementsAre(1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1));
  EXPECT_TRUE(e->SpikePort("spikes"));
  EXPECT_FALSE(e->SpikePort("scores"));
  EXPECT_EQ(r->chip.steps, 4u);
  EXPECT_GT(r->energy_j, 0);
  EXPECT_GT(r->latency_s, 0);

  // One-shot inferences do not leak state into each other.
  auto again = e->Infer({{"x", x}});
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(again->outputs["scores"].data, ElementsAre(3, 6));
}

TEST_F(ExecutorTest, TimedInputIsAlignedByDelay) {
  BoardImage image = RelayImage(3);
  auto e = Make(image);
  ASSERT_NE(e, nullptr);
  std::vector<float> pattern = {1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0};
  auto r = e->Infer({{"x", HostValue{true, {3, kWidth}, pattern}}});
  ASSERT_TRUE(r.ok()) << r.status();
  const HostValue& out = r->outputs["spikes"];
  EXPECT_TRUE(out.timed);
  EXPECT_THAT(out.shape, ElementsAre(3, kWidth));
  EXPECT_THAT(out.data, ElementsAreArray(pattern));
}

TEST_F(ExecutorTest, HostSegmentBetweenChipPartsRunsInterleaved) {
  // x -> A -> port "a" (delay 1) -> host x2 -> port "fb" (graded) -> B -> "b".
  ImageBuilder b(2);
  b.AddInput("x", kWidth);
  b.AddInput("fb", kWidth, SpikeKind::kGraded);
  Relay(b.AddGroup(1, 0, kWidth));
  auto& second = b.AddGroup(2, 1, kWidth);
  second.du = 4095;
  second.dv = 4095;
  second.vth = 1;  // fires on a_in >= 2: only the doubled spikes get through
  b.AddDense(1, ImageBuilder::Input(0), 1, Identity(kWidth));
  b.AddDense(2, ImageBuilder::Input(1), 2, Identity(kWidth, 1));
  b.AddOutput("a", 1, OutputSource::kSpikes);
  b.AddOutput("b", 2, OutputSource::kSpikes);
  BoardImage image = b.Build();
  image.outputs[0].delay = 1;
  image.outputs[1].delay = 3;
  image.meta.timesteps = 3;
  image.meta.run_steps = 6;
  image.host_segments.push_back(Seg("double", "mul_scalar", R"({"scalar": 2})", {"a"}, "fb"));
  auto e = Make(image);
  ASSERT_NE(e, nullptr);
  std::vector<float> pattern = {1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0};
  auto r = e->Infer({{"x", HostValue{true, {3, kWidth}, pattern}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->outputs["b"].data, ElementsAreArray(pattern));
  EXPECT_EQ(r->chip.steps, 6u);

  // A head after a mean over time runs once the chip is done, even in an
  // interleaved run (it used to be attempted per step and failed).
  image.host_segments.push_back(Seg("rate", "mean", R"({"dims": [0]})", {"b"}, "rate"));
  HostSegment head = Seg("head", "linear", "", {"rate"}, "scores");
  head.tensors = {{"weight", {1, kWidth}, {3, 3, 3, 3}}};
  image.host_segments.push_back(head);
  ASSERT_TRUE(device_->Reset().ok());
  e = Make(image);
  ASSERT_NE(e, nullptr);
  r = e->Infer({{"x", HostValue{true, {3, kWidth}, pattern}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->outputs["scores"].data, ElementsAre(6));  // 6 spikes / 3 steps * 3
}

TEST_F(ExecutorTest, StreamingKeepsStateAndEmitsAfterLatency) {
  auto e = Make(RelayImage(3));
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->StreamReset().ok());
  EXPECT_EQ(e->latency_steps(), 1u);
  EXPECT_FALSE(e->windowed());
  auto outs = e->OutputPorts();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(outs[0].per_step);
  EXPECT_TRUE(outs[0].spikes);
  EXPECT_THAT(outs[0].shape, ElementsAre(kWidth));
  std::vector<std::vector<float>> steps = {{1, 0, 0, 1}, {0, 1, 1, 0}, {0, 0, 0, 0}};
  std::vector<StreamStep> got;
  for (const auto& s : steps) {
    auto out = e->StreamPush({{"x", HostValue{false, {kWidth}, s}}});
    ASSERT_TRUE(out.ok()) << out.status();
    got.insert(got.end(), out->begin(), out->end());
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].step, 0);
  EXPECT_THAT(got[0].outputs["spikes"].data, ElementsAreArray(steps[0]));
  EXPECT_THAT(got[1].outputs["spikes"].data, ElementsAreArray(steps[1]));
}

TEST_F(ExecutorTest, StreamingAHeadOverTimeAnswersOncePerWindowAsInferDoes) {
  // spikes -> mean over T -> linear: the shape of the fixture classifiers.
  BoardImage image = RelayImage(3);
  image.host_segments.push_back(Seg("rate", "mean", R"({"dims": [0]})", {"spikes"}, "rate"));
  HostSegment head = Seg("head", "linear", "", {"rate"}, "scores");
  head.tensors = {{"weight", {2, 4}, {3, 0, 3, 0, 0, 3, 0, 3}}};
  image.host_segments.push_back(head);
  auto e = Make(image);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->windowed());
  auto outs = e->OutputPorts();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].name, "scores");
  EXPECT_FALSE(outs[0].per_step);
  EXPECT_FALSE(outs[0].spikes);
  EXPECT_THAT(outs[0].shape, ElementsAre(2));
  auto ins = e->InputPorts();
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_TRUE(ins[0].spikes);
  EXPECT_THAT(ins[0].shape, ElementsAre(kWidth));
  std::vector<float> first = {1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0};
  std::vector<float> second = {0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1};
  auto want_first = e->Infer({{"x", HostValue{true, {3, kWidth}, first}}});
  auto want_second = e->Infer({{"x", HostValue{true, {3, kWidth}, second}}});
  ASSERT_TRUE(want_first.ok() && want_second.ok());

  ASSERT_TRUE(e->StreamReset().ok());
  std::vector<StreamStep> got;
  for (const auto* pattern : {&first, &second}) {
    for (int t = 0; t < 3; ++t) {
      std::vector<float> step(pattern->begin() + t * kWidth, pattern->begin() + (t + 1) * kWidth);
      hal::RunStats stats;
      auto out = e->StreamPush({{"x", HostValue{false, {kWidth}, step}}}, &stats);
      ASSERT_TRUE(out.ok()) << out.status();
      // Nothing before the window's last step; the chip ran the whole window then.
      EXPECT_EQ(out->empty(), t < 2);
      EXPECT_EQ(stats.steps, t < 2 ? 0u : 4u);
      got.insert(got.end(), out->begin(), out->end());
    }
  }
  // The second window starts from reset state: it matches its own Infer.
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].step, 2);
  EXPECT_EQ(got[1].step, 5);
  EXPECT_THAT(got[0].outputs["scores"].data, ElementsAreArray(want_first->outputs["scores"].data));
  EXPECT_THAT(got[1].outputs["scores"].data, ElementsAreArray(want_second->outputs["scores"].data));
  EXPECT_THAT(got[0].outputs["scores"].shape, ElementsAre(2));
}

TEST_F(ExecutorTest, BadInputsAreNamed) {
  auto e = Make(RelayImage(2));
  ASSERT_NE(e, nullptr);
  auto missing = e->Infer({});
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("missing input 'x'"));
  auto shape = e->Infer({{"x", HostValue{false, {3}, {1, 0, 1}}}});
  EXPECT_THAT(std::string(shape.status().message()), HasSubstr("expected [4]"));
  auto graded = e->Infer({{"x", HostValue{false, {kWidth}, {1, 0, 0.5f, 1}}}});
  EXPECT_THAT(std::string(graded.status().message()), HasSubstr("spikes (0 or 1)"));
  auto extra = e->Infer(
      {{"x", HostValue{false, {kWidth}, {1, 0, 0, 1}}}, {"y", HostValue{false, {1}, {1}}}});
  EXPECT_THAT(std::string(extra.status().message()), HasSubstr("no input named 'y'"));
  // The executor still works after refusing input.
  EXPECT_TRUE(e->Infer({{"x", HostValue{false, {kWidth}, {1, 0, 0, 1}}}}).ok());
}

TEST_F(ExecutorTest, InconsistentHostProgramsAreRefused) {
  // The image validator refuses these at load too; the executor checks on its
  // own because it may be handed an image that was never validated.
  auto program = device_->Load(RelayImage(2), hal::Partition{{0}});
  ASSERT_TRUE(program.ok()) << program.status();
  BoardImage image = RelayImage(2);
  image.host_segments.push_back(Seg("head", "sum", R"({"dims": [0]})", {"nowhere"}, "y"));
  auto e = Executor::Create(image, device_.get(), *program);
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("reads 'nowhere'"));

  BoardImage late = RelayImage(2);
  late.outputs[0].delay = 5;
  e = Executor::Create(late, device_.get(), *program);
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("delay 5"));
}

}  // namespace
}  // namespace spk::executor
