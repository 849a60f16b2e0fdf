// Fuzz-style test: random mutations of every IR file in the tree must give
// either a module or a clean "file:line:col: error: ..." message. Whatever
// parses must verify without crashing and survive print and parse again.
#include <gtest/gtest.h>

#include <random>

#include "compiler/ir/equality.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/test_files.h"
#include "compiler/ir/verifier.h"

namespace spk::compiler::ir {
namespace {

using testing::FilesEndingWith;
using testing::ReadFile;
using testing::SourceDir;

const std::vector<std::string> kTokens = {"%",
                                          "@",
                                          "\"",
                                          "[",
                                          "]",
                                          "{",
                                          "}",
                                          "(",
                                          ")",
                                          ",",
                                          ":",
                                          "=",
                                          "->",
                                          "T",
                                          "-",
                                          "1e999",
                                          "nan",
                                          "-inf",
                                          "\n",
                                          "//",
                                          "\\",
                                          "\\x",
                                          "constant",
                                          "module",
                                          "loc(",
                                          "f32[",
                                          "<elided",
                                          "%0",
                                          "@w",
                                          "999999999999999999999",
                                          "0.5",
                                          "true",
                                          "op \"x\"",
                                          "i8[",
                                          std::string(1, '\0'),
                                          "\xff",
                                          "graded[T,",
                                          "-0",
                                          "1048576,1048576,1048576,1048576"};

std::string Mutate(std::string text, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int edits = pick(3) == 0 ? static_cast<int>(pick(3)) + 2 : 1;
  for (int e = 0; e < edits && !text.empty(); ++e) {
    size_t pos = pick(text.size());
    switch (pick(7)) {
      case 0:
        text[pos] = static_cast<char>(pick(256));
        break;
      case 1:
        text.erase(pos, pick(20) + 1);
        break;
      case 2: {
        size_t len = std::min(text.size() - pos, pick(40) + 1);
        text.insert(pick(text.size()), text.substr(pos, len));
        break;
      }
      case 3:
        text.insert(pos, kTokens[pick(kTokens.size())]);
        break;
      case 4:
        text.resize(pos);
        break;
      case 5: {  // swap two lines
        size_t a = text.rfind('\n', pos);
        size_t b = text.find('\n', pos);
        if (a != std::string::npos && b != std::string::npos && a < b) {
          std::string line = text.substr(a, b - a);
          text.erase(a, b - a);
          text.insert(pick(text.size()), line);
        }
        break;
      }
      default: {  // replace a number by another: mostly still parses, rarely still valid
        static const char* const kNumbers[] = {
            "0", "1", "2", "3", "-1", "7", "1048577", "0.5", "1e999", "99999999999999999999"};
        size_t d = text.find_first_of("0123456789", pos);
        if (d != std::string::npos) {
          size_t end = text.find_first_not_of("0123456789", d);
          text.replace(d, (end == std::string::npos ? text.size() : end) - d, kNumbers[pick(10)]);
        }
        break;
      }
    }
  }
  return text;
}

// "fuzz.spkir:<line>:<col>: error: <message>"
bool HasErrorShape(std::string_view m) {
  constexpr std::string_view kPrefix = "fuzz.spkir:";
  if (m.substr(0, kPrefix.size()) != kPrefix) return false;
  m.remove_prefix(kPrefix.size());
  for (int field = 0; field < 2; ++field) {
    size_t digits = 0;
    while (digits < m.size() && m[digits] >= '0' && m[digits] <= '9') ++digits;
    if (digits == 0 || digits >= m.size() || m[digits] != ':') return false;
    m.remove_prefix(digits + 1);
  }
  constexpr std::string_view kError = " error: ";
  return m.substr(0, kError.size()) == kError && m.size() > kError.size();
}

TEST(ParserFuzzTest, MutatedFilesGiveCleanErrors) {
  auto files = FilesEndingWith(SourceDir() / "compiler", ".spkir");
  auto expected = FilesEndingWith(SourceDir() / "compiler/passes/testdata", ".expected");
  files.insert(files.end(), expected.begin(), expected.end());
  ASSERT_GE(files.size(), 3u);
  std::mt19937_64 rng(20240601);
  int parsed = 0, rejected = 0;
  for (const auto& path : files) {
    std::string original = ReadFile(path);
    for (int i = 0; i < 400; ++i) {
      std::string text = Mutate(original, rng);
      DiagnosticEngine diags;
      auto m = ParseModule(text, "fuzz.spkir", diags);
      if (!m.ok()) {
        ++rejected;
        std::string message(m.status().message());
        ASSERT_TRUE(HasErrorShape(message)) << path << " mutation " << i << ": " << message;
        ASSERT_EQ(diags.error_count(), 1u);
        continue;
      }
      ++parsed;
      (void)VerifyModule(**m, diags);  // must not crash, valid or not
      std::string printed = PrintModule(**m);
      auto again = ParseModule(printed, "reprinted");
      ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
      std::string why;
      ASSERT_TRUE(StructurallyEqual(**m, **again, &why)) << why;
    }
  }
  // Both paths must have been exercised for the test to mean something.
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace spk::compiler::ir
