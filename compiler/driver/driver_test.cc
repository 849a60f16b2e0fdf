#include "compiler/driver/driver.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compiler/driver/cli.h"
#include "hal/format/board_image_io.h"

namespace spk::compiler::driver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kLowered[] = R"(
module @mlp attributes {timesteps = 4} {
  constant @w1 : i8[3,4] = [40, -20, 60, 0, 10, 30, -50, 70, 100, 2, 4, 6]
  constant @w2 : i8[2,3] = [30, -40, 20, 10, 50, -60]
  %0 = input() {name = "x"} : () -> spike[T,1,4]
  %1 = syn_dense(%0) {weight = @w1, weight_exp = 0} : spike[T,1,4] -> graded[T,1,3] loc("mlp.py":10:4 "fc1")
  %2 = cuba_lif(%1) {du = 4095, dv = 2048, vth = 1} : graded[T,1,3] -> spike[T,1,3] loc("mlp.py":11:4 "lif1")
  %3 = syn_dense(%2) {weight = @w2, weight_exp = 0} : spike[T,1,3] -> graded[T,1,2] loc("mlp.py":12:4 "fc2")
  %4 = accumulate(%3) : graded[T,1,2] -> state[T,1,2] loc("mlp.py":13:4 "acc")
  output(%4) {name = "y"} : state[T,1,2] -> ()
}
)";

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Frontend IR: the lowering passes run before codegen.
constexpr char kFrontend[] = R"(
module @front attributes {timesteps = 4} {
  constant @w : f32[3,4] = [0.5, -0.25, 1.0, 0.75, 0.1, 0.9, -0.6, 0.3, 1.2, 0.2, 0.4, -0.8]
  %0 = input() {name = "x"} : () -> f32[1,4]
  %1 = repeat_t(%0) : f32[1,4] -> f32[T,1,4]
  %2 = linear(%1) {weight = @w} : f32[T,1,4] -> f32[T,1,3] loc("f.py":5:3 "fc")
  %3 = lif(%2) {tau = 2.0, v_threshold = 1.0} : f32[T,1,3] -> spike[T,1,3] loc("f.py":6:3 "lif")
  output(%3) {name = "y"} : spike[T,1,3] -> ()
}
)";

// Spikformer SSA on spike inputs, 2 tokens x 2 dims: its AND expansion
// (8 + 16 and2s) fits any board.
constexpr char kSsa[] = R"(
module @ssa attributes {timesteps = 4} {
  %q = input() {name = "q"} : () -> spike[T,1,2,2]
  %k = input() {name = "k"} : () -> spike[T,1,2,2]
  %v = input() {name = "v"} : () -> spike[T,1,2,2]
  %kt = transpose(%k) {dim0 = -2, dim1 = -1} : spike[T,1,2,2] -> spike[T,1,2,2]
  %qk = matmul(%q, %kt) : (spike[T,1,2,2], spike[T,1,2,2]) -> graded[T,1,2,2]
  %sc = mul_scalar(%qk) {scalar = 0.125} : graded[T,1,2,2] -> f32[T,1,2,2]
  %att = matmul(%sc, %v) : (f32[T,1,2,2], spike[T,1,2,2]) -> f32[T,1,2,2]
  %o = lif(%att) {tau = 2.0, v_threshold = 0.5} : f32[T,1,2,2] -> spike[T,1,2,2] loc("s.py":3:1 "attn.attn_lif")
  output(%o) {name = "y"} : spike[T,1,2,2] -> ()
}
)";

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spk_driver_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunCompileCli(args, Importer(), out_, err_, false);
  }

  std::filesystem::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(DriverTest, CompilesLoweredIrToAnImageWithReports) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string image = (dir_ / "mlp.spkimg").string();
  const std::string json = (dir_ / "report.json").string();
  ASSERT_EQ(Run({model, "-o", image, "--chip", "loihi2", "--report", "--report-json", json}), 0)
      << err_.str();
  auto read = hal::format::ReadBoardImageFile(image);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->meta.chip_profile, "loihi2");
  EXPECT_EQ(read->meta.model_name, "mlp");
  EXPECT_EQ(read->meta.model_sha256.size(), 64u);
  EXPECT_EQ(read->meta.run_steps, 6u);
  EXPECT_THAT(out_.str(), HasSubstr("lif1"));
  EXPECT_THAT(out_.str(), HasSubstr("total: 1 core(s) on 1 chip(s)"));
  const std::string text = Slurp(json);
  EXPECT_THAT(text, HasSubstr("\"schema\":\"spiked.compile_report.v1\""));
  EXPECT_THAT(text, HasSubstr("\"name\":\"acc\""));
  EXPECT_THAT(text, HasSubstr("\"source\":\"mlp.py:11\""));
}

TEST_F(DriverTest, CompilesFrontendIrThroughLowering) {
  const std::string model = Write("front.spkir", kFrontend);
  ASSERT_EQ(Run({model, "-o", (dir_ / "f.spkimg").string(), "--emit-ir", "optimized"}), 0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("cuba_lif"));
  auto read = hal::format::ReadBoardImageFile((dir_ / "f.spkimg").string());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->inputs[0].kind, hal::format::SpikeKind::kGraded);
  EXPECT_EQ(read->outputs[0].delay, 1u);
}

TEST_F(DriverTest, ProbeNeuronsMakesEachLayerAnOutputAlignedByItsDepth) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string plain = (dir_ / "plain.spkimg").string();
  const std::string probed = (dir_ / "probed.spkimg").string();
  ASSERT_EQ(Run({model, "-o", plain}), 0) << err_.str();
  ASSERT_EQ(Run({model, "-o", probed, "--probe-neurons"}), 0) << err_.str();
  auto a = hal::format::ReadBoardImageFile(plain);
  auto b = hal::format::ReadBoardImageFile(probed);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(b->outputs.size(), a->outputs.size() + 1);
  const auto& probe = b->outputs.back();
  EXPECT_EQ(probe.name, "probe:lif1");
  EXPECT_EQ(probe.source, hal::format::OutputSource::kSpikes);
  EXPECT_EQ(probe.delay, 1u);  // one table after the input
  // The chip part is the same: only an output port was added.
  EXPECT_EQ(b->groups.size(), a->groups.size());
  EXPECT_EQ(b->tables.size(), a->tables.size());
}

TEST_F(DriverTest, SameModelSameBytes) {
  const std::string model = Write("mlp.spkir", kLowered);
  ASSERT_EQ(Run({model, "-o", (dir_ / "a.spkimg").string()}), 0) << err_.str();
  ASSERT_EQ(Run({model, "-o", (dir_ / "b.spkimg").string()}), 0) << err_.str();
  EXPECT_EQ(Slurp(dir_ / "a.spkimg"), Slurp(dir_ / "b.spkimg"));
}

// --ssa: auto expands the small SSA on the chip, host keeps it on the host;
// the report says where each attention runs, and the options are cached apart.
TEST_F(DriverTest, SsaChoiceReachesTheReportAndTheCacheKey) {
  const std::string model = Write("ssa.spkir", kSsa);
  const std::string chip_json = (dir_ / "chip.json").string();
  const std::string host_json = (dir_ / "host.json").string();
  const std::string cache = (dir_ / "cache").string();
  ASSERT_EQ(Run({model, "-o", (dir_ / "a.spkimg").string(), "--report", "--report-json", chip_json,
                 "--cache-dir", cache}),
            0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("attention attn.attn_lif: spike matmuls on the chip, 2 and2 "
                                    "layer(s), 24 compartments"));
  EXPECT_THAT(Slurp(chip_json),
              HasSubstr(R"("attention":[{"name":"attn.attn_lif","where":"chip")"));
  ASSERT_EQ(Run({model, "-o", (dir_ / "b.spkimg").string(), "--ssa", "host", "--report",
                 "--report-json", host_json, "--cache-dir", cache}),
            0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("attention attn.attn_lif: spike matmuls on the host"));
  EXPECT_THAT(Slurp(host_json), HasSubstr(R"("where":"host")"));
  EXPECT_NE(Slurp((dir_ / "a.spkimg").string()), Slurp((dir_ / "b.spkimg").string()));
  // Forced onto a chip it does not fit (a 1-core partition): exit 1, the layer named.
  EXPECT_EQ(Run({model, "-o", (dir_ / "c.spkimg").string(), "--ssa", "chip", "--max-cores", "1"}),
            kExitModelError);
  EXPECT_THAT(err_.str(), HasSubstr("s.py:3:1: error: the on-chip SSA expansion feeding 'lif' "
                                    "[attn.attn_lif] does not fit"));
}

TEST_F(DriverTest, ExitCodes) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string out = (dir_ / "x.spkimg").string();
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_EQ(Run({model}), kExitUsage);
  EXPECT_EQ(Run({model, "-o", out, "--frobnicate"}), kExitUsage);
  EXPECT_EQ(Run({model, "-o", out, "--chip", "nosuchchip"}), kExitUsage);
  EXPECT_EQ(Run({model, "-o", out, "--ssa", "sometimes"}), kExitUsage);
  EXPECT_EQ(Run({(dir_ / "missing.pt").string(), "-o", out}), kExitUsage);
  EXPECT_EQ(Run({model, "-o", (dir_ / "no" / "such" / "dir.spkimg").string()}), kExitUsage);
  // A model error: the location of the op at fault, and exit 1.
  std::string bad = kFrontend;
  bad.replace(bad.find("v_threshold = 1.0"), 17, "v_reset = 0.5, v_threshold = 1.0");
  EXPECT_EQ(Run({Write("bad.spkir", bad), "-o", out}), kExitModelError);
  EXPECT_THAT(err_.str(), HasSubstr("f.py:6:3: error:"));
}

TEST_F(DriverTest, TooSmallPartitionIsAModelError) {
  std::string big = R"(
module @big attributes {timesteps = 2} {
  constant @w : i8[10000,2] = [)";
  for (int i = 0; i < 20000; ++i) big += i ? ", 2" : "2";
  big += R"(]
  %0 = input() {name = "x"} : () -> spike[T,1,2]
  %1 = syn_dense(%0) {weight = @w, weight_exp = 0} : spike[T,1,2] -> graded[T,1,10000] loc("b.py":3:1 "fc")
  %2 = cuba_lif(%1) {du = 4095, dv = 0, vth = 1} : graded[T,1,10000] -> spike[T,1,10000] loc("b.py":4:1 "lif")
  output(%2) {name = "y"} : spike[T,1,10000] -> ()
}
)";
  const std::string model = Write("big.spkir", big);
  EXPECT_EQ(Run({model, "-o", (dir_ / "big.spkimg").string(), "--max-cores", "1"}),
            kExitModelError);
  EXPECT_THAT(err_.str(), HasSubstr("b.py:4:1: error: cannot map onto loihi2: layer 'lif', core 1: "
                                    "cores: needs 2, available 1"));
  // --emit-ir still shows the IR that did not map.
  out_.str("");
  EXPECT_EQ(Run({model, "-o", (dir_ / "big.spkimg").string(), "--max-cores", "1", "--emit-ir",
                 "optimized"}),
            kExitModelError);
  EXPECT_THAT(out_.str(), HasSubstr("cuba_lif(%1)"));
  EXPECT_EQ(Run({model, "-o", (dir_ / "big.spkimg").string()}), 0) << err_.str();
}

// ---- The artifact cache (--cache-dir) ---------------------------------------

class DriverCacheTest : public DriverTest {
 protected:
  std::vector<std::filesystem::path> CacheFiles(const std::string& suffix) {
    std::vector<std::filesystem::path> found;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "cache")) {
      const std::string name = e.path().filename().string();
      if (name.size() >= suffix.size() && name.ends_with(suffix)) found.push_back(e.path());
    }
    return found;
  }
  int Compile(const std::string& model, const std::string& out,
              std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {model,
                                     "-o",
                                     out,
                                     "--cache-dir",
                                     (dir_ / "cache").string(),
                                     "--time-report",
                                     "--report-json",
                                     out + ".json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  }
  static void FlipByte(const std::filesystem::path& path, size_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x5a));
  }
};

TEST_F(DriverCacheTest, SecondCompileIsAHitWithTheSameImageAndReports) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string a = (dir_ / "a.spkimg").string(), b = (dir_ / "b.spkimg").string();
  ASSERT_EQ(Compile(model, a, {"--report"}), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: miss"));
  EXPECT_THAT(err_.str(), HasSubstr("cache: stored"));
  EXPECT_THAT(err_.str(), HasSubstr("time: pass "));
  const std::string first_report = out_.str();
  ASSERT_EQ(Compile(model, b, {"--report"}), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: hit"));
  EXPECT_EQ(out_.str(), first_report);
  EXPECT_EQ(Slurp(a), Slurp(b));
  EXPECT_EQ(Slurp(a + ".json"), Slurp(b + ".json"));
  EXPECT_EQ(CacheFiles(".spkimg").size(), 1u);
}

TEST_F(DriverCacheTest, OptionsAndNoCacheAreRespected) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string out = (dir_ / "a.spkimg").string();
  ASSERT_EQ(Compile(model, out), 0) << err_.str();
  ASSERT_EQ(Compile(model, out, {"-O1"}), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: miss"));  // another option, another key
  EXPECT_EQ(CacheFiles(".spkimg").size(), 2u);
  ASSERT_EQ(Compile(model, out, {"--no-cache"}), 0) << err_.str();
  EXPECT_THAT(err_.str(), Not(HasSubstr("cache:")));
  // The model's bytes are part of the key.
  ASSERT_EQ(Compile(Write("mlp2.spkir", std::string(kLowered) + "\n"), out), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: miss"));
}

TEST_F(DriverCacheTest, CorruptImageIsDetectedByChecksumAndRecompiled) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string a = (dir_ / "a.spkimg").string(), b = (dir_ / "b.spkimg").string();
  ASSERT_EQ(Compile(model, a), 0) << err_.str();
  auto images = CacheFiles(".spkimg");
  ASSERT_EQ(images.size(), 1u);
  FlipByte(images[0], std::filesystem::file_size(images[0]) / 2);
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("corrupt"));
  EXPECT_THAT(err_.str(), HasSubstr("cache: stored"));
  EXPECT_EQ(Slurp(a), Slurp(b));
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: hit"));
  EXPECT_EQ(Slurp(a), Slurp(b));
}

TEST_F(DriverCacheTest, CorruptOrMissingReportIsRecompiled) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string a = (dir_ / "a.spkimg").string(), b = (dir_ / "b.spkimg").string();
  ASSERT_EQ(Compile(model, a), 0) << err_.str();
  auto reports = CacheFiles(".report_json");
  ASSERT_EQ(reports.size(), 1u);
  FlipByte(reports[0], std::filesystem::file_size(reports[0]) - 5);
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("damaged or missing reports"));
  EXPECT_EQ(Slurp(a + ".json"), Slurp(b + ".json"));
  std::filesystem::remove(CacheFiles(".report_txt").at(0));
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("damaged or missing reports"));
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: hit"));
}

TEST_F(DriverCacheTest, ConcurrentCompilesOfOneModelAllSucceedWithOneEntry) {
  const std::string model = Write("mlp.spkir", kLowered);
  constexpr int kThreads = 6;
  std::vector<int> codes(kThreads, -1);
  std::vector<std::string> errs(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::ostringstream out, err;
      const std::vector<std::string> args = {model, "-o",
                                             (dir_ / ("t" + std::to_string(i))).string(),
                                             "--cache-dir", (dir_ / "cache").string()};
      codes[i] = RunCompileCli(args, Importer(), out, err, false);
      errs[i] = err.str();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_EQ(codes[i], 0) << errs[i];
    EXPECT_EQ(Slurp(dir_ / ("t" + std::to_string(i))), Slurp(dir_ / "t0"));
  }
  EXPECT_EQ(CacheFiles(".spkimg").size(), 1u);
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "cache")) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp")) << e.path();
  }
  ASSERT_EQ(Compile(model, (dir_ / "after").string()), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: hit"));
}

TEST_F(DriverCacheTest, ModelDigestIsMemoisedAndAnEditedModelIsAMiss) {
  const std::string model = Write("mlp.spkir", kLowered);
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  std::filesystem::last_write_time(model, old);
  const std::string a = (dir_ / "a.spkimg").string(), b = (dir_ / "b.spkimg").string();
  ASSERT_EQ(Compile(model, a), 0) << err_.str();
  ASSERT_TRUE(std::filesystem::exists(dir_ / "cache" / "digests"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "cache" / "digests"),
                          std::filesystem::directory_iterator()),
            1);
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: hit"));
  // Same size, same modification time, other weights: still a miss.
  std::string edited = kLowered;
  edited.replace(edited.find("[40, -20"), 8, "[42, -20");
  Write("mlp.spkir", edited);
  std::filesystem::last_write_time(model, old);
  ASSERT_EQ(Compile(model, b), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("cache: miss"));
  EXPECT_NE(Slurp(a), Slurp(b));
}

TEST_F(DriverCacheTest, GivenKeySkipsTheLookupAndStoresUnderIt) {
  // How spk-compile hands a miss to spk-compile-torch.
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string key(64, 'a');
  ASSERT_EQ(Compile(model, (dir_ / "a.spkimg").string(), {"--cache-key", key}), 0) << err_.str();
  EXPECT_THAT(err_.str(), Not(HasSubstr("cache: miss")));
  EXPECT_THAT(err_.str(), HasSubstr("cache: stored " + key));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "cache" / (key + ".spkimg")));
  EXPECT_EQ(Compile(model, (dir_ / "a.spkimg").string(), {"--cache-key", "x"}), kExitUsage);
}

TEST_F(DriverCacheTest, UnusableCacheDirIsAWarningNotAFailure) {
  const std::string model = Write("mlp.spkir", kLowered);
  const std::string blocker = Write("cache", "a file, not a directory");
  ASSERT_EQ(Compile(model, (dir_ / "a.spkimg").string()), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("warning: compiling without the cache"));
  EXPECT_TRUE(hal::format::ReadBoardImageFile((dir_ / "a.spkimg").string()).ok());
}

}  // namespace
}  // namespace spk::compiler::driver
