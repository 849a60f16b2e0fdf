// Lowering end to end: the -O pipelines on small synthetic equivalents of the
// fixture models reach the lowered normal form, and a random MLP's spike
// trains survive quantization (compared with the reference interpreter).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/lowering/lowering.h"
#include "compiler/lowering/reference.h"
#include "compiler/passes/pass_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spk::compiler::lowering {
namespace {

const passes::PassRegistry& Registry() {
  static const passes::PassRegistry* r = [] {
    auto* reg = new passes::PassRegistry();
    passes::RegisterBuiltinPasses(*reg);
    RegisterLoweringPasses(*reg);
    return reg;
  }();
  return *r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses and runs -O<level>; the diagnostics text goes to *log.
std::unique_ptr<ir::Module> Lower(const std::string& text, int level, std::string* log,
                                  Status* status, const std::string& ssa = "",
                                  const std::string& search = "") {
  ir::DiagnosticEngine diags;
  auto m = ir::ParseModule(text, "test.spkir", diags);
  if (!m.ok()) {
    *status = m.status();
    return nullptr;
  }
  passes::PassManager pm(Registry());
  *status = pm.AddOptLevel(level);
  if (!ssa.empty()) pm.set_option("lower-attention.ssa", ssa);
  if (!search.empty()) pm.set_option("quantize.search", search);
  if (status->ok()) *status = pm.Run(**m, diags);
  for (const auto& d : diags.diagnostics()) *log += d.message + "\n";
  return std::move(*m);
}

class FixtureTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(FixtureTest, ReachesNormalForm) {
  auto [name, level] = GetParam();
  std::string text = ReadFile(std::string(SPK_SOURCE_DIR) + "/compiler/lowering/testdata/" + name);
  ASSERT_FALSE(text.empty()) << name;
  std::string log;
  Status s;
  auto m = Lower(text, level, &log, &s);
  ASSERT_TRUE(s.ok()) << s << "\n" << log;
  std::vector<std::string> problems = CheckLoweredNormalForm(*m);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_TRUE(problems.empty()) << all << ir::PrintModule(*m);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FixtureTest,
    ::testing::Combine(::testing::Values("spiking_mlp.spkir", "spiking_cnn.spkir",
                                         "spikformer_block.spkir", "sdt_block.spkir"),
                       ::testing::Values(0, 1, 2, 3)),
    [](const auto& param_info) {
      std::string n = std::get<0>(param_info.param);
      n = n.substr(0, n.find('.'));
      return n + "_O" + std::to_string(std::get<1>(param_info.param));
    });

TEST(NormalFormTest, NamesFrontendLeftovers) {
  auto m = ir::ParseModule(R"(module attributes {timesteps = 2} {
  constant @w : f32[1,1] = [1]
  %x = input() {name = "x"} : () -> spike[T,1]
  %h = linear(%x) {weight = @w} : spike[T,1] -> f32[T,1]
  %s = lif(%h) {tau = 2.0, v_threshold = 1.0} : f32[T,1] -> spike[T,1]
  output(%s) {name = "y"} : spike[T,1] -> ()
})");
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<std::string> problems = CheckLoweredNormalForm(**m);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("'linear'"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("'lif'"), std::string::npos) << problems[1];
}

// A random 2-layer MLP on an f32 image, its frontend spikes against the chip's.
std::string RandomMlp(std::mt19937& rng, int in, int hidden, int out, int steps) {
  std::normal_distribution<float> w(0.0f, 1.0f);
  std::uniform_real_distribution<float> b(-0.1f, 0.1f);
  auto list = [&](int n, auto& dist, float scale) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", dist(rng) * scale);
      s += buf;
    }
    return s + "]";
  };
  std::ostringstream t;
  t << "module @mlp attributes {timesteps = " << steps << "} {\n"
    << "  constant @fc1.weight : f32[" << hidden << "," << in
    << "] = " << list(hidden * in, w, 1.5f / std::sqrt(static_cast<float>(in))) << "\n"
    << "  constant @fc1.bias : f32[" << hidden << "] = " << list(hidden, b, 1.0f) << "\n"
    << "  constant @fc2.weight : f32[" << out << "," << hidden
    << "] = " << list(out * hidden, w, 2.0f / std::sqrt(static_cast<float>(hidden))) << "\n"
    << "  %x = input() {name = \"x\"} : () -> f32[1," << in << "]\n"
    << "  %r = repeat_t(%x) : f32[1," << in << "] -> f32[T,1," << in << "]\n"
    << "  %h = linear(%r) {bias = @fc1.bias, weight = @fc1.weight} : f32[T,1," << in
    << "] -> f32[T,1," << hidden << "]\n"
    << "  %s = lif(%h) {tau = 2.0, v_threshold = 1.0} : f32[T,1," << hidden << "] -> spike[T,1,"
    << hidden << "]\n"
    << "  %h2 = linear(%s) {weight = @fc2.weight} : spike[T,1," << hidden << "] -> f32[T,1," << out
    << "]\n"
    << "  %s2 = lif(%h2) {tau = 2.0, v_threshold = 1.0} : f32[T,1," << out << "] -> spike[T,1,"
    << out << "]\n"
    << "  output(%s2) {name = \"y\"} : spike[T,1," << out << "] -> ()\n}\n";
  return t.str();
}

std::vector<const ir::Operation*> OpsNamed(const ir::Module& m, std::string_view a,
                                           std::string_view b) {
  std::vector<const ir::Operation*> out;
  for (const auto& op : m.ops()) {
    if (op->name() == a || op->name() == b) out.push_back(op.get());
  }
  return out;
}

double AgreementRate(int level, int models, int64_t* compared) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  const int in = 16, hidden = 24, out = 10, steps = 8;
  int64_t same = 0, total = 0;
  for (int k = 0; k < models; ++k) {
    std::string text = RandomMlp(rng, in, hidden, out, steps);
    auto front = ir::ParseModule(text);
    EXPECT_TRUE(front.ok()) << front.status();
    std::string log;
    Status s;
    auto chip = Lower(text, level, &log, &s);
    EXPECT_TRUE(s.ok()) << s << log;
    if (!front.ok() || !s.ok()) return 0;
    std::vector<float> x(in);
    for (float& v : x) v = pixel(rng);
    const int64_t depth = *chip->attrs().GetInt("pipeline.max_depth");
    auto ft = RunReference(**front, {{"x", x}}, steps);
    auto ct = RunReference(*chip, {{"x", x}}, steps + depth);
    EXPECT_TRUE(ft.ok() && ct.ok()) << ft.status() << ct.status();
    if (!ft.ok() || !ct.ok()) return 0;
    auto fl = OpsNamed(**front, "lif", "if_neuron");
    auto cl = OpsNamed(*chip, "cuba_lif", "cuba_lif");
    EXPECT_EQ(fl.size(), cl.size());
    for (size_t i = 0; i < std::min(fl.size(), cl.size()); ++i) {
      const auto d = static_cast<size_t>(*cl[i]->attrs().GetInt("pipeline.depth"));
      const auto& fs = ft->values.at(fl[i]->result(0));
      const auto& cs = ct->values.at(cl[i]->result(0));
      for (size_t t = 0; t < static_cast<size_t>(steps); ++t) {
        for (size_t j = 0; j < fs[t].size(); ++j) {
          same += fs[t][j] == cs[t + d][j];
          ++total;
        }
      }
    }
  }
  *compared = total;
  return total ? static_cast<double>(same) / static_cast<double>(total) : 0;
}

TEST(NumericTest, RandomMlpSpikesAgreeWithFloat) {
  for (int level : {0, 2}) {
    int64_t n = 0;
    double rate = AgreementRate(level, 20, &n);
    std::printf("-O%d: %.4f of %lld neuron-steps agree\n", level, rate, static_cast<long long>(n));
    EXPECT_GE(rate, 0.97) << "at -O" << level;
  }
}

// A layer of 131,072 weights or more ranks its scales on a sample and
// quantizes only the best few in full: its error stays within a hair of
// the full scan's, and the choice is as deterministic.
TEST(NumericTest, LargeLayersRankScalesOnASample) {
  std::mt19937 rng(5);
  const std::string text = RandomMlp(rng, 512, 320, 10, 4);  // fc1: 163,840 weights
  auto error_of = [&](const std::string& search) {
    std::string log;
    Status s;
    auto chip = Lower(text, 2, &log, &s, "", search);
    EXPECT_TRUE(s.ok()) << s << log;
    if (!s.ok()) return -1.0;
    for (const auto& op : chip->ops()) {
      if (op->name() == "cuba_lif") return *op->attrs().GetFloat("quant.error");
    }
    return -1.0;
  };
  const double sampled = error_of(""), full = error_of("full");
  std::printf("fc1 weight error: sampled search %.6f, full scan %.6f\n", sampled, full);
  ASSERT_GT(full, 0);
  EXPECT_LE(sampled, full * 1.01) << "sampled " << sampled << " full " << full;
  EXPECT_EQ(error_of(""), sampled);
  std::string log;
  Status s;
  Lower(text, 2, &log, &s, "", "fast");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("search must be auto or full"));
}

// Spikformer SSA on spike inputs q, k, v [T,1,H,N,d] (random spikes, new
// every step), scale * (q @ k^T) @ v (or q @ (k^T @ v)), heads merged back to
// [T,1,N,H*d] as spikformer.py does, into attn_lif (threshold 0.5).
std::string RandomSsa(int heads, int tokens, int dim, bool kv_first, double scale) {
  const std::string h = std::to_string(heads), n = std::to_string(tokens), d = std::to_string(dim),
                    hd = std::to_string(heads * dim);
  const std::string qt = "spike[T,1," + h + "," + n + "," + d + "]";
  const std::string kt = "spike[T,1," + h + "," + d + "," + n + "]";
  const std::string att = "graded[T,1," + h + "," + n + "," + n + "]";
  const std::string attf = "f32[T,1," + h + "," + n + "," + n + "]";
  const std::string kv = "graded[T,1," + h + "," + d + "," + d + "]";
  const std::string kvf = "f32[T,1," + h + "," + d + "," + d + "]";
  const std::string y = "f32[T,1," + h + "," + n + "," + d + "]";
  const std::string yt = "f32[T,1," + n + "," + h + "," + d + "]";
  const std::string yr = "f32[T,1," + n + "," + hd + "]";
  char sc[32];
  std::snprintf(sc, sizeof sc, "%.17g", scale);
  std::ostringstream t;
  t << "module @ssa attributes {timesteps = 8} {\n"
    << "  %q = input() {name = \"q\"} : () -> " << qt << "\n"
    << "  %k = input() {name = \"k\"} : () -> " << qt << "\n"
    << "  %v = input() {name = \"v\"} : () -> " << qt << "\n"
    << "  %kt = transpose(%k) {dim0 = -2, dim1 = -1} : " << qt << " -> " << kt << "\n";
  if (kv_first) {
    t << "  %kv = matmul(%kt, %v) : (" << kt << ", " << qt << ") -> " << kv << "\n"
      << "  %s = mul_scalar(%kv) {scalar = " << sc << "} : " << kv << " -> " << kvf << "\n"
      << "  %a = matmul(%q, %s) : (" << qt << ", " << kvf << ") -> " << y << "\n";
  } else {
    t << "  %qk = matmul(%q, %kt) : (" << qt << ", " << kt << ") -> " << att << "\n"
      << "  %s = mul_scalar(%qk) {scalar = " << sc << "} : " << att << " -> " << attf << "\n"
      << "  %a = matmul(%s, %v) : (" << attf << ", " << qt << ") -> " << y << "\n";
  }
  t << "  %at = transpose(%a) {dim0 = 2, dim1 = 3} : " << y << " -> " << yt << "\n"
    << "  %ar = reshape(%at) {shape = [1, " << n << ", " << hd << "]} : " << yt << " -> " << yr
    << "\n"
    << "  %o = lif(%ar) {tau = 2.0, v_threshold = 0.5} : " << yr << " -> spike[T,1," << n << ","
    << hd << "] loc(\"attn.attn_lif\")\n"
    << "  output(%o) {name = \"y\"} : spike[T,1," << n << "," << hd << "] -> ()\n}\n";
  return t.str();
}

// The on-chip AND expansion is exact: the chip's attn_lif spikes equal the
// float model's at every step, whatever the shapes, spike rates and form.
TEST(NumericTest, SsaExpansionOnChipIsExact) {
  std::mt19937 rng(99);
  struct Case {
    int heads, tokens, dim;
    bool kv_first;
    double scale, rate;
  };
  const Case cases[] = {{2, 4, 4, false, 0.125, 0.6},
                        {1, 3, 5, false, 0.125, 0.8},
                        {2, 5, 3, true, 0.25, 0.5},
                        {1, 4, 2, false, 0.5, 0.3},
                        {3, 2, 4, true, 0.125, 0.9}};
  int64_t fired = 0, total = 0;
  for (const Case& c : cases) {
    for (int level : {0, 3}) {
      const std::string text = RandomSsa(c.heads, c.tokens, c.dim, c.kv_first, c.scale);
      auto front = ir::ParseModule(text);
      ASSERT_TRUE(front.ok()) << front.status();
      std::string log;
      Status s;
      auto chip = Lower(text, level, &log, &s, "chip");
      ASSERT_TRUE(s.ok()) << s << "\n" << log;
      ASSERT_NE(log.find("expanded on the chip"), std::string::npos) << log;
      EXPECT_TRUE(CheckLoweredNormalForm(*chip).empty());
      const int64_t steps = 8;
      const int64_t depth = *chip->attrs().GetInt("pipeline.max_depth");
      const size_t per_step = static_cast<size_t>(c.heads * c.tokens * c.dim);
      std::bernoulli_distribution spike(c.rate);
      std::map<std::string, std::vector<float>> front_in, chip_in;
      for (const char* name : {"q", "k", "v"}) {
        std::vector<float> x(per_step * static_cast<size_t>(steps + depth), 0.0f);
        for (size_t i = 0; i < per_step * static_cast<size_t>(steps); ++i) x[i] = spike(rng);
        chip_in[name] = x;
        x.resize(per_step * static_cast<size_t>(steps));
        front_in[name] = x;
      }
      auto ft = RunReference(**front, front_in, steps);
      auto ct = RunReference(*chip, chip_in, steps + depth);
      ASSERT_TRUE(ft.ok()) << ft.status();
      ASSERT_TRUE(ct.ok()) << ct.status();
      // The output "y" in both: the neuron's spikes in the model's layout.
      auto fo = OpsNamed(**front, "output", "output");
      auto co = OpsNamed(*chip, "output", "output");
      ASSERT_EQ(fo.size(), 1u);
      ASSERT_EQ(co.size(), 1u);
      const auto d = static_cast<size_t>(*co[0]->attrs().GetInt("pipeline.depth"));
      EXPECT_EQ(d, 3u);  // two and2 layers, then the sum table
      const auto& fs = ft->values.at(fo[0]->operand(0));
      const auto& cs = ct->values.at(co[0]->operand(0));
      for (size_t t = 0; t < static_cast<size_t>(steps); ++t) {
        ASSERT_EQ(fs[t].size(), cs[t + d].size());
        for (size_t j = 0; j < fs[t].size(); ++j) {
          ASSERT_EQ(fs[t][j], cs[t + d][j])
              << "heads " << c.heads << " tokens " << c.tokens << " dim " << c.dim << " -O" << level
              << " step " << t << " neuron " << j;
          fired += fs[t][j] != 0;
          ++total;
        }
      }
    }
  }
  std::printf("SSA expansion: %lld neuron-steps equal to float, %lld of them spikes\n",
              static_cast<long long>(total), static_cast<long long>(fired));
  EXPECT_GT(fired, total / 10);  // the comparison is not all silence
  EXPECT_LT(fired, total);
}

// A sum of layers no neuron reads is the host's (lower-host makes it host
// ops); only a sum that neurons read becomes a relay group.
TEST(LoweringTest, SumReadOnlyByTheHostGetsNoRelay) {
  constexpr char kText[] = R"(
module @head attributes {timesteps = 4} {
  constant @a.weight : f32[2,3] = [0.5, -0.25, 0.75, 1, 0.5, -0.5]
  constant @b.weight : f32[2,3] = [1, 0, 0.5, -0.5, 1, 0]
  %x = input() {name = "x"} : () -> spike[T,1,3]
  %a = linear(%x) {weight = @a.weight} : spike[T,1,3] -> f32[T,1,2]
  %b = linear(%x) {weight = @b.weight} : spike[T,1,3] -> f32[T,1,2]
  %s = add(%a, %b) : (f32[T,1,2], f32[T,1,2]) -> f32[T,1,2]
  %m = mean(%s) {dims = [0], keepdim = false} : f32[T,1,2] -> f32[1,2]
  output(%m) {name = "logits"} : f32[1,2] -> ()
}
)";
  std::string log;
  Status s;
  auto m = Lower(kText, 2, &log, &s);
  ASSERT_TRUE(s.ok()) << s << log;
  EXPECT_EQ(log.find("relay group"), std::string::npos) << log;
  EXPECT_TRUE(OpsNamed(*m, "relay", "relay").empty());
  EXPECT_FALSE(OpsNamed(*m, "host", "host").empty());
}

}  // namespace
}  // namespace spk::compiler::lowering
