// Spikformer SSA on the chip, end to end: a small attention block (IR text,
// random weights) compiled with --ssa=chip and --ssa=host, run on the
// emulator through the executor, compared with each other and with the float
// model (the reference interpreter).
//
// spikformer_digits itself cannot take the expansion on any board profile:
// each head's last and2 layer has N^2 d^2 = 16^2 * 16^2 = 65536 compartments
// (262144 per block), and the sum into attn_lif reads them all, while a core
// takes 4096 input axons (docs/lowering.md#attention). So the variant of
// SpikformerDigitsO3 forced onto the chip is a compile error, checked in
// fixture_models_e2e_test.cc, and the numbers here come from a smaller SSA.
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compiler/driver/driver.h"
#include "compiler/ir/parser.h"
#include "compiler/lowering/reference.h"
#include "daemon/executor/executor.h"
#include "hal/format/chip_profile.h"
#include "sim/sim_device.h"

namespace spk {
namespace {

constexpr int kTokens = 6, kDim = 12, kHeads = 2, kSteps = 8;

std::string List(std::mt19937& rng, int n, float mean, float sd) {
  std::normal_distribution<float> dist(mean, sd);
  std::string s = "[";
  for (int i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", dist(rng));
    s += buf;
  }
  return s + "]";
}

// x [1,N,D] -> q, k, v = lif(linear(x)) -> heads [1,H,N,d] ->
// lif_0.5((q @ k^T) * 0.125 @ v), heads merged back, as spikformer.py.
std::string SsaBlock(uint32_t seed) {
  std::mt19937 rng(seed);
  const int n = kTokens, dd = kDim, h = kHeads, d = kDim / kHeads;
  auto t = [](std::initializer_list<int> dims, const char* e = "f32", bool timed = true) {
    std::string s = std::string(e) + "[" + (timed ? "T," : "");
    bool first = true;
    for (int v : dims) {
      s += (first ? "" : ",") + std::to_string(v);
      first = false;
    }
    return s + "]";
  };
  std::ostringstream m;
  m << "module @ssa_block attributes {spk.input_range = [0.0, 1.0], timesteps = " << kSteps
    << "} {\n";
  for (const char* p : {"q", "k", "v"}) {
    m << "  constant @" << p << ".weight : f32[" << dd << "," << dd
      << "] = " << List(rng, dd * dd, 0.0f, 2.0f / std::sqrt(static_cast<float>(dd))) << "\n"
      << "  constant @" << p << ".bias : f32[" << dd << "] = " << List(rng, dd, 1.6f, 0.6f) << "\n";
  }
  m << "  %x = input() {name = \"x\"} : () -> " << t({1, n, dd}, "f32", false) << "\n"
    << "  %r = repeat_t(%x) : " << t({1, n, dd}, "f32", false) << " -> " << t({1, n, dd}) << "\n";
  for (const char* p : {"q", "k", "v"}) {
    const std::string s(p);
    m << "  %" << s << "h = linear(%r) {bias = @" << s << ".bias, weight = @" << s
      << ".weight} : " << t({1, n, dd}) << " -> " << t({1, n, dd}) << "\n"
      << "  %" << s << " = lif(%" << s << "h) {tau = 2.0, v_threshold = 1.0} : " << t({1, n, dd})
      << " -> " << t({1, n, dd}, "spike") << " loc(\"ssa.py\":1:1 \"attn." << s << "_lif\")\n"
      << "  %" << s << "r = reshape(%" << s << ") {shape = [1, " << n << ", " << h << ", " << d
      << "]} : " << t({1, n, dd}, "spike") << " -> " << t({1, n, h, d}, "spike") << "\n"
      << "  %" << s << "p = permute(%" << s
      << "r) {dims = [0, 1, 3, 2, 4]} : " << t({1, n, h, d}, "spike") << " -> "
      << t({1, h, n, d}, "spike") << "\n";
  }
  m << "  %kt = transpose(%kp) {dim0 = -2, dim1 = -1} : " << t({1, h, n, d}, "spike") << " -> "
    << t({1, h, d, n}, "spike") << "\n"
    << "  %qk = matmul(%qp, %kt) : (" << t({1, h, n, d}, "spike") << ", "
    << t({1, h, d, n}, "spike") << ") -> " << t({1, h, n, n}, "graded") << "\n"
    << "  %sc = mul_scalar(%qk) {scalar = 0.125} : " << t({1, h, n, n}, "graded") << " -> "
    << t({1, h, n, n}) << "\n"
    << "  %a = matmul(%sc, %vp) : (" << t({1, h, n, n}) << ", " << t({1, h, n, d}, "spike")
    << ") -> " << t({1, h, n, d}) << "\n"
    << "  %at = transpose(%a) {dim0 = 2, dim1 = 3} : " << t({1, h, n, d}) << " -> "
    << t({1, n, h, d}) << "\n"
    << "  %ar = reshape(%at) {shape = [1, " << n << ", " << dd << "]} : " << t({1, n, h, d})
    << " -> " << t({1, n, dd}) << "\n"
    << "  %o = lif(%ar) {tau = 2.0, v_threshold = 0.5} : " << t({1, n, dd}) << " -> "
    << t({1, n, dd}, "spike") << " loc(\"ssa.py\":2:1 \"attn.attn_lif\")\n"
    << "  output(%o) {name = \"y\"} : " << t({1, n, dd}, "spike") << " -> ()\n}\n";
  return m.str();
}

struct Outcome {
  size_t cores = 0;
  std::string report;
  std::vector<std::vector<float>> outputs;  // per sample: y, [T, N, D]
};

Outcome CompileAndRun(const std::string& text, const std::string& ssa,
                      const std::vector<std::vector<float>>& samples) {
  Outcome run;
  compiler::driver::CompileOptions options;
  options.chip = "loihi2";
  options.board = "oheo-gulch-1";
  options.opt_level = 3;
  options.ssa = ssa;
  compiler::ir::DiagnosticEngine diags;
  const std::vector<uint8_t> bytes(text.begin(), text.end());
  auto compiled = compiler::driver::CompileModel(bytes, "ssa_block.spkir", options, {}, diags);
  if (!compiled.ok()) {
    ADD_FAILURE() << ssa << ": " << compiled.status() << "\n" << diags.Render();
    return run;
  }
  run.cores = compiled->image.cores.size();
  run.report = compiled->report_text;
  auto chip = hal::format::LoadChipProfile(options.chip);
  auto board = hal::format::LoadBoardProfile(options.board);
  if (!chip.ok() || !board.ok()) {
    ADD_FAILURE() << "profiles: " << chip.status() << " " << board.status();
    return run;
  }
  auto device = sim::SimDevice::Create(*chip, *board);
  if (!device.ok()) {
    ADD_FAILURE() << device.status();
    return run;
  }
  hal::Partition partition;
  for (uint32_t c = 0; c < compiled->image.cores.size(); ++c) partition.cores.push_back(c);
  auto program = (*device)->Load(compiled->image, partition);
  if (!program.ok()) {
    ADD_FAILURE() << ssa << ": load: " << program.status();
    return run;
  }
  auto executor = executor::Executor::Create(compiled->image, device->get(), *program);
  if (!executor.ok()) {
    ADD_FAILURE() << ssa << ": executor: " << executor.status();
    return run;
  }
  for (const std::vector<float>& x : samples) {
    executor::HostValue in;
    in.shape = (*executor)->inputs().at("x");
    in.data = x;
    auto result = (*executor)->Infer({{"x", in}});
    if (!result.ok()) {
      ADD_FAILURE() << ssa << ": infer: " << result.status();
      return run;
    }
    run.outputs.push_back(result->outputs.at("y").data);
  }
  return run;
}

TEST(SsaChipE2eTest, ChipExpansionMatchesHostAndFloat) {
  const std::string text = SsaBlock(7);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<std::vector<float>> samples(40, std::vector<float>(kTokens * kDim));
  for (auto& x : samples) {
    for (float& v : x) v = pixel(rng);
  }
  const Outcome chip = CompileAndRun(text, "chip", samples);
  const Outcome host = CompileAndRun(text, "host", samples);
  ASSERT_EQ(chip.outputs.size(), samples.size());
  ASSERT_EQ(host.outputs.size(), samples.size());
  EXPECT_NE(chip.report.find("attention attn.attn_lif: spike matmuls on the chip"),
            std::string::npos)
      << chip.report;
  EXPECT_NE(host.report.find("attention attn.attn_lif: spike matmuls on the host"),
            std::string::npos)
      << host.report;

  // The float model's attn_lif spikes, from the same images.
  auto front = compiler::ir::ParseModule(text);
  ASSERT_TRUE(front.ok()) << front.status();
  const compiler::ir::Value* y = nullptr;
  for (const auto& op : (*front)->ops()) {
    if (op->name() == "output") y = op->operand(0);
  }
  uint64_t same_host = 0, same_float_chip = 0, same_float_host = 0, spikes = 0, total = 0;
  for (size_t s = 0; s < samples.size(); ++s) {
    auto ref = compiler::lowering::RunReference(**front, {{"x", samples[s]}}, kSteps);
    ASSERT_TRUE(ref.ok()) << ref.status();
    const auto& steps = ref->values.at(y);
    ASSERT_EQ(chip.outputs[s].size(), static_cast<size_t>(kSteps * kTokens * kDim));
    ASSERT_EQ(host.outputs[s].size(), chip.outputs[s].size());
    for (size_t i = 0; i < chip.outputs[s].size(); ++i) {
      const double f = steps[i / (kTokens * kDim)][i % (kTokens * kDim)];
      same_host += chip.outputs[s][i] == host.outputs[s][i];
      same_float_chip += chip.outputs[s][i] == f;
      same_float_host += host.outputs[s][i] == f;
      spikes += chip.outputs[s][i] != 0;
      ++total;
    }
  }
  const double n = static_cast<double>(total);
  std::printf(
      "SSA block (N=%d, D=%d, %d heads, T=%d), %zu samples: chip expansion on %zu core(s), host "
      "path on %zu core(s)\n  attn_lif spike rate %.3f; chip == host on %.4f of %llu values; "
      "agreement with float: chip %.4f, host %.4f\n%s",
      kTokens, kDim, kHeads, kSteps, samples.size(), chip.cores, host.cores, spikes / n,
      same_host / n, static_cast<unsigned long long>(total), same_float_chip / n,
      same_float_host / n, chip.report.c_str());
  // Both ways are exact given the same q, k, v spikes; only the q/k/v
  // layers' weight rounding separates them from float.
  EXPECT_EQ(same_host, total);
  EXPECT_GE(same_float_chip / n, 0.97);
  EXPECT_GT(spikes, total / 20);
}

}  // namespace
}  // namespace spk
