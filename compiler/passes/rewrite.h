// Small helpers shared by the passes for rewriting the IR. Like the passes,
// they assume one thread works on a module at a time.
#ifndef SPK_COMPILER_PASSES_REWRITE_H_
#define SPK_COMPILER_PASSES_REWRITE_H_

#include <string>
#include <string_view>
#include <unordered_set>

#include "compiler/ir/module.h"

namespace spk::compiler::passes {

// An op whose results are unused and that has no side effects.
bool IsTriviallyDead(const ir::Operation& op);

// Replaces every use of op's only result by `value`, then erases op.
void ReplaceOpWith(ir::Operation* op, ir::Value* value);

// Erases `op` if it is trivially dead, then each operand producer that
// became dead as a result. Returns the number of ops erased.
size_t EraseIfDead(ir::Operation* op);

// The constant a `const` op defines `value` from, or null.
const ir::Constant* DefiningConstant(const ir::Value* value);

// Names of all constants referenced by any op attribute.
std::unordered_set<std::string> ReferencedConstants(const ir::Module& module);

// Adds a constant named `base` (or base.1, base.2, ... if taken) and returns
// it. The type and data must agree (checked).
ir::Constant* AddUniqueConstant(ir::Module& module, std::string_view base, ir::Type type,
                                ir::TensorData data);

}  // namespace spk::compiler::passes

#endif  // SPK_COMPILER_PASSES_REWRITE_H_
