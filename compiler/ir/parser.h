// Parses the IR text form (docs/ir.md) into a Module.
//
// Errors name the position ("model.spkir:12:8: error: expected ')' ...") and
// what was expected; the parser stops at the first syntax error and never
// crashes or allocates without bound on malformed input. It checks syntax,
// that op names are registered, that values are defined exactly once and
// that each op's signature matches the types of its operands; everything
// else (arity, attributes, shapes, use before definition) is the verifier's
// job, so invalid-but-well-formed IR can be read and diagnosed in full.
//
// Attributes are read by their written form, then converted where the op's
// definition asks for a float and the text has an integer (`tau = 2`).
//
// Thread safety: none needed; each call is independent.
#ifndef SPK_COMPILER_IR_PARSER_H_
#define SPK_COMPILER_IR_PARSER_H_

#include <memory>
#include <string_view>

#include "base/status.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"

namespace spk::compiler::ir {

// Parses `text`. `source_name` names the text in diagnostics and becomes the
// module's source_name. On a syntax error, emits one diagnostic and returns
// INVALID_ARGUMENT with the rendered diagnostic as message.
StatusOr<std::unique_ptr<Module>> ParseModule(std::string_view text, std::string_view source_name,
                                              DiagnosticEngine& diags,
                                              const OpRegistry& registry = DefaultOpRegistry());

// Same, for callers without a diagnostic engine: the error is in the Status.
StatusOr<std::unique_ptr<Module>> ParseModule(std::string_view text,
                                              std::string_view source_name = "<text>");

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_PARSER_H_
