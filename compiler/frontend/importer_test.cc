#include "compiler/frontend/importer.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"

namespace spk::compiler::frontend {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kModels = fs::path(SPK_FIXTURE_DIR) / "models";

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

std::vector<uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::map<std::string, int> OpCounts(const ir::Module& m) {
  std::map<std::string, int> counts;
  for (const auto& op : m.ops()) ++counts[op->name()];
  return counts;
}

ImportOptions OptionsFor(const nlohmann::json& meta) {
  ImportOptions options;
  options.input_shape = meta["input_shape"].get<std::vector<int64_t>>();
  return options;
}

TEST(ImporterTest, ImportsEveryFixtureModel) {
  int seen = 0;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    if (entry.path().extension() != ".json") continue;
    auto meta = ReadJson(entry.path());
    SCOPED_TRACE(meta["name"].get<std::string>());
    ir::DiagnosticEngine diags;
    auto result = ImportTorchScriptFile((kModels / meta["file"].get<std::string>()).string(),
                                        OptionsFor(meta), diags);
    ASSERT_TRUE(result.ok()) << result.status() << "\n" << diags.Render();
    const ir::Module& m = *result->module;
    EXPECT_EQ(m.timesteps(), meta["T"].get<int64_t>());
    // Parameters plus BatchNorm running statistics, which PyTorch does not count.
    EXPECT_GE(result->parameters, meta["param_count"].get<int64_t>());
    EXPECT_LE(result->parameters, meta["param_count"].get<int64_t>() * 11 / 10);
    auto counts = OpCounts(m);
    int neurons = meta["neurons"]["LIF"].get<int>() + meta["neurons"]["IF"].get<int>();
    EXPECT_EQ(counts["lif"] + counts["if_neuron"], neurons);
    EXPECT_EQ(counts["input"], 1);
    EXPECT_EQ(counts["output"], 1);
    ir::DiagnosticEngine verify;
    EXPECT_TRUE(ir::VerifyModule(m, verify).ok()) << verify.Render();
    ++seen;
  }
  EXPECT_GE(seen, 4);
}

TEST(ImporterTest, MlpBecomesLinearLifLinearMean) {
  auto meta = ReadJson(kModels / "spiking_mlp.json");
  ir::DiagnosticEngine diags;
  auto result =
      ImportTorchScriptFile((kModels / "spiking_mlp.pt").string(), OptionsFor(meta), diags);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> compute;
  for (const auto& op : result->module->ops()) {
    if (op->name() != "reshape" && op->name() != "input" && op->name() != "output") {
      compute.push_back(op->name());
    }
  }
  EXPECT_THAT(compute, ::testing::ElementsAre("repeat_t", "linear", "lif", "linear", "mean"));
}

TEST(ImporterTest, NeuronsKeepTheirHyperParametersAndSourceLines) {
  auto meta = ReadJson(kModels / "spikformer_digits.json");
  ir::DiagnosticEngine diags;
  auto result =
      ImportTorchScriptFile((kModels / "spikformer_digits.pt").string(), OptionsFor(meta), diags);
  ASSERT_TRUE(result.ok()) << result.status();
  int attn_lifs = 0;
  for (const auto& op : result->module->ops()) {
    if (op->name() != "lif") continue;
    EXPECT_THAT(op->loc().file, HasSubstr("spikformer.py"));
    EXPECT_GT(op->loc().line, 0);
    EXPECT_EQ(op->attrs().GetFloat("tau"), 2.0);
    if (op->loc().module_path.find("attn_lif") != std::string::npos) {
      EXPECT_EQ(op->attrs().GetFloat("v_threshold"), 0.5);
      ++attn_lifs;
    }
  }
  EXPECT_EQ(attn_lifs, 2);  // one per block
  EXPECT_EQ(OpCounts(*result->module)["matmul"], 4);
}

TEST(ImporterTest, ShapeAndTimestepsComeFromTheArchiveMetadata) {
  // gen_fixtures.py saves extra/spiked.json, so no options are needed.
  ir::DiagnosticEngine diags;
  auto result =
      ImportTorchScriptFile((kModels / "spiking_cnn.pt").string(), ImportOptions{}, diags);
  ASSERT_TRUE(result.ok()) << result.status() << diags.Render();
  EXPECT_EQ(result->module->timesteps(), 4);
}

TEST(ImporterTest, ConflictingTimestepsAreReported) {
  ImportOptions options;
  options.timesteps = 6;  // the model repeats its input over 4 steps
  ir::DiagnosticEngine diags;
  auto result = ImportTorchScriptFile((kModels / "spiking_mlp.pt").string(), options, diags);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(diags.Render(), HasSubstr("repeats its input over 4 timesteps"));
}

TEST(ImporterTest, WrongInputShapeIsReportedAtTheLayer) {
  ImportOptions options;
  options.input_shape = {1, 1, 7, 7};  // the MLP's first Linear expects 64 features
  ir::DiagnosticEngine diags;
  auto result = ImportTorchScriptFile((kModels / "spiking_mlp.pt").string(), options, diags);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(diags.has_errors());
  const auto& d = diags.diagnostics().front();
  EXPECT_EQ(d.loc.module_path, "fc1");
  EXPECT_THAT(d.loc.file, HasSubstr("mlp.py"));
}

TEST(ImporterTest, MissingFileIsNotFound) {
  ir::DiagnosticEngine diags;
  auto result = ImportTorchScriptFile("/nonexistent/model.pt", ImportOptions{}, diags);
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
}

TEST(ImporterTest, TruncatedArchivesAreRefusedCleanly) {
  auto bytes = ReadBytes(kModels / "spiking_mlp.pt");
  ASSERT_GT(bytes.size(), 1000u);
  ImportOptions options;
  options.input_shape = {1, 1, 8, 8};
  for (size_t cut : {size_t{0}, size_t{10}, size_t{100}, bytes.size() / 3, bytes.size() / 2,
                     bytes.size() - 100, bytes.size() - 1}) {
    std::vector<uint8_t> head(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    ir::DiagnosticEngine diags;
    auto result = ImportTorchScript(head, "cut.pt", options, diags);
    ASSERT_FALSE(result.ok()) << "cut at " << cut;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("cut.pt"));
  }
}

TEST(ImporterTest, CorruptedArchiveBytesAreRefusedOrImportedNeverCrash) {
  auto bytes = ReadBytes(kModels / "spiking_mlp.pt");
  ImportOptions options;
  options.input_shape = {1, 1, 8, 8};
  uint32_t seed = 7;
  for (int round = 0; round < 40; ++round) {
    auto copy = bytes;
    for (int k = 0; k < 8; ++k) {
      seed = seed * 1664525u + 1013904223u;
      copy[seed % copy.size()] ^= static_cast<uint8_t>(1u << (seed >> 29));
    }
    ir::DiagnosticEngine diags;
    auto result = ImportTorchScript(copy, "flipped.pt", options, diags);
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace spk::compiler::frontend
