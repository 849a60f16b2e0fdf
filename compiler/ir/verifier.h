// The verifier: is a module well formed?
//
// Checks, reporting every problem (not just the first) with the location of
// the op at fault:
//   - SSA: every operand is a value of this module defined before its use
//     (each value has exactly one definition by construction; the parser
//     rejects a second definition in text);
//   - each op against its OpDef: operand and result counts, operand types,
//     required attributes, attribute kinds and ranges, unknown attributes,
//     references to constants that exist;
//   - shapes: the declared result types equal what shape inference gives;
//   - op-specific rules (OpDef::verify), e.g. quantized weight ranges;
//   - module attributes and constants (type and data agree).
//
// Thread safety: reads the module only.
#ifndef SPK_COMPILER_IR_VERIFIER_H_
#define SPK_COMPILER_IR_VERIFIER_H_

#include "base/status.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"

namespace spk::compiler::ir {

// Emits one error per problem into `diags`. OK if there were none, else
// INVALID_ARGUMENT summarising the count and the first error.
Status VerifyModule(const Module& module, DiagnosticEngine& diags);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_VERIFIER_H_
