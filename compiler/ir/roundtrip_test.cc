// print(parse(text)) == text for printed text, and parse(print(m)) is
// structurally equal to m: on every IR file in the tree and on random graphs.
#include <gtest/gtest.h>

#include <set>

#include "compiler/ir/equality.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/random_module.h"
#include "compiler/ir/test_files.h"
#include "compiler/ir/verifier.h"

namespace spk::compiler::ir {
namespace {

using testing::FilesEndingWith;
using testing::ReadFile;
using testing::SourceDir;
using testing::StripLeadingComments;

// Printed-form files: IR models and every golden test's expected output.
std::vector<std::filesystem::path> PrintedFiles() {
  auto files = FilesEndingWith(SourceDir() / "compiler/ir/testdata", ".spkir");
  auto expected = FilesEndingWith(SourceDir() / "compiler/passes/testdata", ".expected");
  files.insert(files.end(), expected.begin(), expected.end());
  return files;
}

TEST(RoundTripTest, PrintedFilesReprintIdentically) {
  auto files = PrintedFiles();
  ASSERT_GE(files.size(), 3u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    std::string text = StripLeadingComments(ReadFile(path));
    auto m = ParseModule(text, path.filename().string());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(PrintModule(**m), text);
  }
}

TEST(RoundTripTest, IrModelsVerify) {
  for (const auto& path : FilesEndingWith(SourceDir() / "compiler/ir/testdata", ".spkir")) {
    SCOPED_TRACE(path.string());
    DiagnosticEngine diags;
    auto m = ParseModule(ReadFile(path), path.filename().string(), diags);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE(VerifyModule(**m, diags).ok()) << diags.Render();
  }
}

TEST(RoundTripTest, EveryParseableFileSurvivesPrintAndParse) {
  auto files = PrintedFiles();
  auto inputs = FilesEndingWith(SourceDir() / "compiler/passes/testdata", ".spkir");
  files.insert(files.end(), inputs.begin(), inputs.end());
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    auto m = ParseModule(ReadFile(path), path.filename().string());
    if (!m.ok()) continue;  // negative parser tests
    std::string text = PrintModule(**m);
    auto again = ParseModule(text, "reprinted");
    ASSERT_TRUE(again.ok()) << again.status();
    std::string why;
    EXPECT_TRUE(StructurallyEqual(**m, **again, &why)) << why;
    EXPECT_EQ(PrintModule(**again), text);
  }
}

TEST(RoundTripTest, RandomModules) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto m = testing::RandomModule(seed);
    DiagnosticEngine diags;
    ASSERT_TRUE(VerifyModule(*m, diags).ok()) << diags.Render() << PrintModule(*m);
    std::string text = PrintModule(*m);
    auto parsed = ParseModule(text, "random");
    ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
    std::string why;
    EXPECT_TRUE(StructurallyEqual(*m, **parsed, &why)) << why;
    EXPECT_EQ(PrintModule(**parsed), text);
  }
}

TEST(RoundTripTest, RandomModulesAreVaried) {
  // Guards the generator: the round trip above must see many op kinds.
  std::set<std::string> kinds;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    auto m = testing::RandomModule(seed);
    for (const auto& op : m->ops()) kinds.insert(op->name());
  }
  EXPECT_GE(kinds.size(), 25u) << ::testing::PrintToString(kinds);
}

TEST(RoundTripTest, StructuralEqualityNoticesDifferences) {
  auto a = testing::RandomModule(1);
  auto b = ParseModule(PrintModule(*a), "b").value();
  std::string why;
  ASSERT_TRUE(StructurallyEqual(*a, *b, &why)) << why;
  b->mutable_attrs().Set("spk.extra", Attribute::Bool(true));
  EXPECT_FALSE(StructurallyEqual(*a, *b, &why));
  EXPECT_EQ(why, "module attributes differ");
  b = ParseModule(PrintModule(*a), "b").value();
  Operation* last = b->ops().back().get();
  last->set_loc(Location{"other.py", 1, 1, "", ""});
  EXPECT_FALSE(StructurallyEqual(*a, *b, &why));
  EXPECT_NE(why.find("locations differ"), std::string::npos) << why;
}

TEST(RoundTripTest, ExactFloatsSurviveText) {
  Module m;
  std::vector<float> values = {0.1f,        -0.0f,      1e-45f, 3.4028235e38f, -1.17549435e-38f,
                               16777217.0f, 1.0f / 3.0f};
  ASSERT_TRUE(m.AddConstant("c", Type::Untimed(ElementType::kF32, {7}), TensorData(values)).ok());
  Operation* op = m.CreateOp("input", {}, {Type::Untimed(ElementType::kF32, {1})},
                             MakeAttrs({{"name", Attribute::String("x")},
                                        {"scale", Attribute::Float(0.1 + 0.2)},
                                        {"spk.f", Attribute::FloatList({5e-324, -1e308})}}));
  (void)op;
  auto parsed = ParseModule(PrintModule(m));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::string why;
  EXPECT_TRUE(StructurallyEqual(m, **parsed, &why)) << why;
  EXPECT_EQ((*parsed)->ops().front()->attrs().GetFloat("scale"), 0.1 + 0.2);
}

}  // namespace
}  // namespace spk::compiler::ir
