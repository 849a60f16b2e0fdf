// Hostile and unsupported TorchScript archives through the importer. The
// files are written at test time by testdata/make_hostile_models.py (with
// Debian's torch), so the build's trained fixtures stay untouched.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "compiler/frontend/importer.h"

namespace spk::compiler::frontend {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class HostileModelsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("spk_hostile_models_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    const std::string command = std::string(SPK_PYTHON) + " " + SPK_SOURCE_DIR +
                                "/compiler/frontend/testdata/make_hostile_models.py " +
                                dir_->string() + " > " + (*dir_ / "gen.log").string() + " 2>&1";
    generated_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    std::ifstream log(*dir_ / "gen.log");
    ASSERT_TRUE(generated_) << "make_hostile_models.py failed:\n"
                            << std::string(std::istreambuf_iterator<char>(log), {});
  }

  // Imports `name`; returns the status and leaves the rendered diagnostics in
  // diagnostics_.
  Status Import(const std::string& name, std::vector<int64_t> shape = {1, 1, 7, 1}) {
    ImportOptions options;
    options.input_shape = std::move(shape);
    options.timesteps = 4;
    ir::DiagnosticEngine diags;
    auto result = ImportTorchScriptFile((*dir_ / name).string(), options, diags);
    diagnostics_ = diags.Render();
    errors_ = diags.error_count();
    return result.ok() ? Status() : result.status();
  }

  static fs::path* dir_;
  static bool generated_;
  std::string diagnostics_;
  size_t errors_ = 0;
};

fs::path* HostileModelsTest::dir_ = nullptr;
bool HostileModelsTest::generated_ = false;

TEST_F(HostileModelsTest, EveryUnsupportedOpIsListedWithItsSourceLine) {
  const Status status = Import("unsupported_ops.pt", {1, 1, 8, 8});
  ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  std::ifstream f(*dir_ / "expected.json");
  const auto expected = nlohmann::json::parse(f);
  const std::string file = expected["file"].get<std::string>();
  ASSERT_EQ(expected["ops"].size(), 4u);
  for (const auto& [op, line] : expected["ops"].items()) {
    // "make_hostile_models.py:33:...: error: unsupported operation aten::softmax"
    EXPECT_THAT(diagnostics_, HasSubstr(file + ":" + std::to_string(line.get<int>()) + ":"))
        << op << "\n"
        << diagnostics_;
    EXPECT_THAT(diagnostics_, HasSubstr("unsupported operation " + op)) << diagnostics_;
  }
  EXPECT_GE(errors_, 4u);
}

TEST_F(HostileModelsTest, SizeDeclaredPastItsStorageIsRefused) {
  // LibTorch 1.13 loads this archive without complaint; a contiguous copy
  // would read 4096 x 4096 floats (strides 13, 1: 229,324 bytes) from a
  // 364-byte buffer.
  const Status status = Import("huge_declared.pt");
  ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(diagnostics_, HasSubstr("declares 229324 bytes of data but its storage holds 364"))
      << diagnostics_;
}

TEST_F(HostileModelsTest, HugeZeroStrideViewIsRefusedBeforeItIsMaterialised) {
  // 2^32 elements over one stored float: copying it would need 16 GiB.
  const Status status = Import("huge_view.pt");
  ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(diagnostics_, HasSubstr("has 4294967296 elements, over the limit")) << diagnostics_;
}

TEST_F(HostileModelsTest, ZipBombIsRefusedBeforeLibTorchReadsIt) {
  const Status status = Import("zip_bomb.pt");
  ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("zip_bomb.pt"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("data/99"));
}

TEST_F(HostileModelsTest, TruncatedArchiveIsRefusedAtEveryCut) {
  std::ifstream in(*dir_ / "unsupported_ops.pt", std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_GT(bytes.size(), 1000u);
  ImportOptions options;
  options.input_shape = {1, 1, 8, 8};
  for (size_t cut = 0; cut < bytes.size(); cut += 97) {
    ir::DiagnosticEngine diags;
    auto result =
        ImportTorchScript(std::span<const uint8_t>(bytes.data(), cut), "cut.pt", options, diags);
    ASSERT_FALSE(result.ok()) << "cut at " << cut;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << result.status();
  }
}

}  // namespace
}  // namespace spk::compiler::frontend
