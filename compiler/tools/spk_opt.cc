// spk-opt: runs passes over spike IR text; see OptUsage() in opt_driver.cc.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/ir/diagnostics.h"
#include "compiler/tools/opt_driver.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

bool ReadAll(const std::string& path, std::string* text) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return false;
    in = &file;
  }
  std::ostringstream buffer;
  buffer << in->rdbuf();
  *text = std::move(buffer).str();
  return !in->bad();
}

bool WriteAll(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  namespace tools = spk::compiler::tools;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = tools::ParseOptArgs(args);
  if (!options.ok()) {
    std::cerr << "spk-opt: " << options.status().message() << "\n";
    return kExitUsage;
  }
  if (options->help) {
    std::cout << tools::OptUsage();
    return 0;
  }
  if (options->list_passes || options->list_ops) {
    if (options->list_passes) std::cout << "passes:\n" << tools::ListPasses();
    if (options->list_ops) std::cout << "ops:\n" << tools::ListOps();
    if (options->input.empty()) return 0;
  }
  std::string text;
  if (!ReadAll(options->input, &text)) {
    std::cerr << "spk-opt: cannot read '" << options->input << "'\n";
    return kExitUsage;
  }
  spk::compiler::ir::DiagnosticEngine diags;
  diags.set_handler([](const spk::compiler::ir::Diagnostic& d) {
    std::cerr << spk::compiler::ir::FormatDiagnostic(d) << "\n";
  });
  std::string output, log;
  std::string source_name = options->input == "-" ? "<stdin>" : options->input;
  spk::Status status = tools::RunOpt(*options, text, source_name, diags, &output, &log);
  std::cerr << log;
  if (!status.ok()) {
    // The diagnostics are printed already; a bug in a pass (INTERNAL) or a
    // failure without diagnostics still needs its message.
    if (diags.has_errors() && status.code() == spk::StatusCode::kInvalidArgument) {
      std::cerr << "spk-opt: failed with " << diags.error_count()
                << (diags.error_count() == 1 ? " error\n" : " errors\n");
    } else {
      std::cerr << "spk-opt: " << status.message() << "\n";
    }
    return kExitFailure;
  }
  if (!WriteAll(options->output, output)) {
    std::cerr << "spk-opt: cannot write '" << options->output << "'\n";
    return kExitUsage;
  }
  return 0;
}
