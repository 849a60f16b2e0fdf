// libFuzzer entry point for the IR text parser (built with SPK_BUILD_FUZZERS
// on clang). Anything that parses must also verify and print without
// crashing, and print back to text that parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ir = spk::compiler::ir;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ir::DiagnosticEngine diags;
  auto module = ir::ParseModule(text, "fuzz", diags);
  if (!module.ok()) return 0;
  (void)ir::VerifyModule(**module, diags);
  SPK_CHECK(ir::ParseModule(ir::PrintModule(**module), "reprinted").ok());
  return 0;
}
