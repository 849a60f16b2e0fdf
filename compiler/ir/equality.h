// Structural equality of modules: same name, attributes, constants (bit for
// bit) and ops in the same order with the same names, attributes, locations,
// result types and operand wiring. Value identities do not matter, only which
// result of which op each operand refers to. Used by round-trip tests and by
// passes that want to know whether they changed anything.
//
// Thread safety: reads the modules only.
#ifndef SPK_COMPILER_IR_EQUALITY_H_
#define SPK_COMPILER_IR_EQUALITY_H_

#include <string>

#include "compiler/ir/module.h"

namespace spk::compiler::ir {

// True if equal; otherwise false and, if `difference` is given, a sentence
// naming the first difference.
bool StructurallyEqual(const Module& a, const Module& b, std::string* difference = nullptr);

}  // namespace spk::compiler::ir

#endif  // SPK_COMPILER_IR_EQUALITY_H_
