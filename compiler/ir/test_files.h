// Test-only: finding the IR text files used by round-trip and fuzz tests.
#ifndef SPK_COMPILER_IR_TEST_FILES_H_
#define SPK_COMPILER_IR_TEST_FILES_H_

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace spk::compiler::ir::testing {

// Files under `dir` (recursively) whose names end with `suffix`, sorted.
inline std::vector<std::filesystem::path> FilesEndingWith(const std::filesystem::path& dir,
                                                          std::string_view suffix) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

// Printed IR may carry leading "//" comment lines in test files; the printer
// does not produce them.
inline std::string StripLeadingComments(std::string_view text) {
  while (text.substr(0, 2) == "//") {
    size_t nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return std::string(text);
}

inline std::filesystem::path SourceDir() { return SPK_SOURCE_DIR; }

}  // namespace spk::compiler::ir::testing

#endif  // SPK_COMPILER_IR_TEST_FILES_H_
