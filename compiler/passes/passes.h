// The passes of this folder, one file each. Each file defines its Pass class
// and a Register<Name>Pass function that adds it to a registry with its
// command-line name, summary and pipeline slots; RegisterBuiltinPasses calls
// them all. A new pass adds its function here and a call there.
#ifndef SPK_COMPILER_PASSES_PASSES_H_
#define SPK_COMPILER_PASSES_PASSES_H_

#include "compiler/passes/pass_registry.h"

namespace spk::compiler::passes {

void RegisterCanonicalizePass(PassRegistry& registry);   // canonicalize.cc
void RegisterConstantFoldPass(PassRegistry& registry);   // constant_fold.cc
void RegisterDcePass(PassRegistry& registry);            // dce.cc
void RegisterFoldBatchNormPass(PassRegistry& registry);  // fold_batch_norm.cc

}  // namespace spk::compiler::passes

#endif  // SPK_COMPILER_PASSES_PASSES_H_
