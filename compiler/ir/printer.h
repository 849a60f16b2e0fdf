// Prints a module in the IR text form (docs/ir.md has the grammar).
//
// The output parses back to a structurally equal module, and printing that
// module again gives the same text. Values are numbered %0, %1, ... in order
// of definition; attributes are sorted by name; floats use the shortest text
// that reads back to the same bits.
//
// With elision on, large constants print as `<elided N values>` for reading;
// such text is not parseable (the parser says so).
//
// Thread safety: reads the module only.
#ifndef SPK_COMPILER_IR_PRINTER_H_
#define SPK_COMPILER_IR_PRINTER_H_

#include <cstdint>
#include <string>

#include "compiler/ir/module.h"

namespace spk::compiler::ir {

struct PrintOptions {
  // Constants with more values than this print elided; negative: never.
  int64_t elide_constants_over = -1;
  bool print_locations = true;
};

std::string PrintModule(const Module& module, const PrintOptions& options = {});

// One op as it would appear in its module (values numbered as there), for
// messages and debugging. O(module size).
std::string PrintOp(const Operation& op);

// Text helpers shared with the parser's tests.
std::string QuoteString(std::string_view text);  // "a\"b"
std::string SymbolText(std::string_view name);   // @fc1.weight or @"odd name"

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_PRINTER_H_
