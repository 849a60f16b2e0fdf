// The spk-compile binaries as the daemon and users run them: spk-compile
// (no LibTorch) handing a TorchScript model to spk-compile-torch, with and
// without the artifact cache.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hal/format/board_image_io.h"

namespace spk::compiler::driver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class SpkCompileBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("spk_compile_binary_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs spk-compile with `args`; returns its exit code, leaves stderr+stdout in log_.
  int Run(const std::vector<std::string>& args) {
    std::string command = SPK_COMPILE_EXE;
    for (const std::string& a : args) command += " '" + a + "'";
    command += " > '" + (dir_ / "log").string() + "' 2>&1";
    const int status = std::system(command.c_str());
    log_ = Slurp(dir_ / "log");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string model_ = std::string(SPK_FIXTURE_DIR) + "/models/spiking_mlp.pt";
  fs::path dir_;
  std::string log_;
};

TEST_F(SpkCompileBinaryTest, DaemonCommandLineStillWorks) {
  // What daemon/service/compile_runner.cc runs.
  const std::string out = (dir_ / "a.spkimg").string();
  ASSERT_EQ(Run({model_, "-o", out, "--chip", "loihi2", "-O2", "--report-json",
                 (dir_ / "r.json").string()}),
            0)
      << log_;
  EXPECT_TRUE(hal::format::ReadBoardImageFile(out).ok());
  EXPECT_THAT(Slurp(dir_ / "r.json"), HasSubstr("spiked.compile_report.v1"));
  EXPECT_FALSE(fs::exists(dir_ / "cache"));
}

TEST_F(SpkCompileBinaryTest, TorchScriptThroughTheCache) {
  const std::string cache = (dir_ / "cache").string();
  const std::string a = (dir_ / "a.spkimg").string(), b = (dir_ / "b.spkimg").string();
  ASSERT_EQ(Run({model_, "-o", a, "--cache-dir", cache, "--time-report", "--report"}), 0) << log_;
  EXPECT_THAT(log_, HasSubstr("cache: miss"));
  EXPECT_THAT(log_, HasSubstr("cache: stored"));
  EXPECT_THAT(log_, HasSubstr("time: import"));
  ASSERT_EQ(Run({model_, "-o", b, "--cache-dir", cache, "--time-report", "--report"}), 0) << log_;
  EXPECT_THAT(log_, HasSubstr("cache: hit"));
  EXPECT_THAT(log_, Not(HasSubstr("time: import")));  // LibTorch never ran
  EXPECT_THAT(log_, HasSubstr("total:"));             // the report, from the cache
  EXPECT_EQ(Slurp(a), Slurp(b));
  // The hit's output may share the entry's file (a hard link); writing that
  // output again replaces it and leaves the entry whole.
  ASSERT_EQ(Run({model_, "-o", b, "--cache-dir", cache, "--no-cache", "--time-report"}), 0) << log_;
  EXPECT_THAT(log_, HasSubstr("time: import"));
  EXPECT_EQ(Slurp(a), Slurp(b));
  ASSERT_EQ(Run({model_, "-o", b, "--cache-dir", cache}), 0) << log_;
  ASSERT_EQ(Run({model_, "-o", b, "--cache-dir", cache, "--progress"}), 0) << log_;
  EXPECT_THAT(log_, HasSubstr("cache: hit"));
  EXPECT_EQ(Slurp(a), Slurp(b));
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST_F(SpkCompileBinaryTest, ConcurrentProcessesShareOneEntry) {
  // Four processes compile the same model into one cold cache at once.
  const std::string cache = (dir_ / "cache").string();
  std::string command;
  for (int i = 0; i < 4; ++i) {
    const std::string out = (dir_ / ("p" + std::to_string(i))).string();
    command += std::string(SPK_COMPILE_EXE) + " '" + model_ + "' -o '" + out + "' --cache-dir '" +
               cache + "' > '" + out + ".log' 2>&1 || echo fail >> '" +
               (dir_ / "failures").string() + "' &\n";
  }
  command += "wait\n";
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_FALSE(fs::exists(dir_ / "failures")) << Slurp(dir_ / "p0.log");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Slurp(dir_ / ("p" + std::to_string(i))), Slurp(dir_ / "p0")) << i;
  }
  int images = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    images += name.ends_with(".spkimg");
  }
  EXPECT_EQ(images, 1);
  ASSERT_EQ(Run({model_, "-o", (dir_ / "after").string(), "--cache-dir", cache, "--progress"}), 0)
      << log_;
  EXPECT_THAT(log_, HasSubstr("cache: hit"));
}

TEST_F(SpkCompileBinaryTest, BrokenArchiveIsAModelError) {
  const std::string bytes = Slurp(model_);
  const fs::path cut = dir_ / "cut.pt";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_EQ(Run({cut.string(), "-o", (dir_ / "a.spkimg").string(), "--cache-dir",
                 (dir_ / "cache").string()}),
            1)
      << log_;
  EXPECT_THAT(log_, HasSubstr("cut.pt"));
  EXPECT_FALSE(fs::exists(dir_ / "a.spkimg"));
}

}  // namespace
}  // namespace spk::compiler::driver
