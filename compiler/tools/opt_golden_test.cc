// Golden tests for the passes: every compiler/passes/testdata/<dir>/<name>.spkir
// is one test, found at run time, so adding a test is adding a file.
//
// A test file is IR text with a header of comment lines:
//   // RUN: --passes=fold-batch-norm,dce      spk-opt arguments (no input file)
//   // EXPECT-DIAG: remark: 'batch_norm' op not folded
// A sibling <name>.spkir.expected holds the exact expected output; the run must
// succeed and print exactly that. Without one, the run must fail. Either way,
// every EXPECT-DIAG substring must appear in the diagnostics (rendered as
// "<dir>/<name>.spkir:line:col: severity: message") or the failure message.
//
// SPK_UPDATE_GOLDEN=1 rewrites existing .expected files with the actual output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/ir/test_files.h"
#include "compiler/tools/opt_driver.h"

namespace spk::compiler::tools {
namespace {

namespace fs = std::filesystem;
using ir::testing::ReadFile;

fs::path TestDataDir() { return fs::path(SPK_SOURCE_DIR) / "compiler/passes/testdata"; }

struct GoldenFile {
  fs::path path;
  std::string relative;  // "<dir>/<name>.spkir", the source name in diagnostics
};

void PrintTo(const GoldenFile& f, std::ostream* os) { *os << f.relative; }

std::vector<GoldenFile> Discover() {
  std::vector<GoldenFile> out;
  for (const fs::path& p : ir::testing::FilesEndingWith(TestDataDir(), ".spkir")) {
    out.push_back({p, fs::relative(p, TestDataDir()).generic_string()});
  }
  return out;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Trim(std::string s) {
  size_t a = s.find_first_not_of(" \t");
  size_t b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A line diff (longest common subsequence), "-" expected, "+" actual.
std::string Diff(const std::string& expected, const std::string& actual) {
  auto a = SplitLines(expected), b = SplitLines(actual);
  if (a.size() * b.size() > 4'000'000) return "(files too large to diff)\n";
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "  " + a[i] + "\n";
      ++i, ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "- " + a[i++] + "\n";
    } else {
      out += "+ " + b[j++] + "\n";
    }
  }
  return out;
}

class GoldenTest : public ::testing::TestWithParam<GoldenFile> {};

TEST_P(GoldenTest, MatchesExpectation) {
  const GoldenFile& golden = GetParam();
  std::string text = ReadFile(golden.path);
  std::vector<std::string> args;
  std::vector<std::string> expect_diags;
  bool has_run = false;
  for (const std::string& line : SplitLines(text)) {
    if (line.rfind("// RUN:", 0) == 0) {
      has_run = true;
      std::istringstream words(line.substr(7));
      for (std::string w; words >> w;) args.push_back(w);
    } else if (line.rfind("// EXPECT-DIAG:", 0) == 0) {
      expect_diags.push_back(Trim(line.substr(15)));
    }
  }
  ASSERT_TRUE(has_run) << golden.relative << " has no '// RUN:' line";
  args.push_back("-");
  auto options = ParseOptArgs(args);
  ASSERT_TRUE(options.ok()) << golden.relative << ": bad RUN line: " << options.status();

  ir::DiagnosticEngine diags;
  std::string output;
  Status status = RunOpt(*options, text, golden.relative, diags, &output);
  std::string reported = diags.Render() + std::string(status.message());

  fs::path expected_path = golden.path;
  expected_path += ".expected";
  if (fs::exists(expected_path)) {
    ASSERT_TRUE(status.ok()) << golden.relative << " failed:\n" << reported;
    std::string expected = ReadFile(expected_path);
    if (std::getenv("SPK_UPDATE_GOLDEN") != nullptr && output != expected) {
      std::ofstream(expected_path, std::ios::binary) << output;
      expected = output;
    }
    EXPECT_EQ(output, expected) << golden.relative << ": output differs (- expected, + actual):\n"
                                << Diff(expected, output);
  } else {
    EXPECT_FALSE(status.ok()) << golden.relative
                              << " has no .expected file, so it must fail; it printed:\n"
                              << output;
  }
  for (const std::string& want : expect_diags) {
    EXPECT_NE(reported.find(want), std::string::npos)
        << golden.relative << ": no diagnostic contains \"" << want << "\"; got:\n"
        << reported;
  }
}

std::string TestName(const ::testing::TestParamInfo<GoldenFile>& p) {
  std::string name = p.param.relative;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Passes, GoldenTest, ::testing::ValuesIn(Discover()), TestName);

TEST(GoldenDiscoveryTest, FindsTestsForEveryBuiltinPass) {
  auto files = Discover();
  for (const char* dir : {"dce/", "constant-fold/", "fold-batch-norm/", "canonicalize/"}) {
    bool found = false;
    for (const auto& f : files) found = found || f.relative.rfind(dir, 0) == 0;
    EXPECT_TRUE(found) << "no golden tests under " << dir;
  }
}

TEST(GoldenDiffTest, ShowsChangedLines) {
  EXPECT_EQ(Diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
}

}  // namespace
}  // namespace spk::compiler::tools
