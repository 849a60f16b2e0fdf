// Lowering: frontend spike IR -> the chip's vocabulary (docs/lowering.md).
//
// The passes of this folder, one file each, turn SpikingJelly neurons into
// bit-accurate CUBA LIF groups fed by quantized synapse tables, move the float
// work that is left into host ops from the executor's set
// (daemon/executor/host_ops.h) and balance synaptic delays. Their result is
// the lowered normal form that codegen consumes; CheckLoweredNormalForm
// states it as code.
//
// Thread safety: the functions are stateless; a module is worked on by one
// thread at a time.
#ifndef SPK_COMPILER_LOWERING_LOWERING_H_
#define SPK_COMPILER_LOWERING_LOWERING_H_

#include <string>
#include <vector>

#include "compiler/ir/module.h"
#include "compiler/passes/pass_registry.h"

namespace spk::compiler::lowering {

// Pipeline stages of the lowering passes (see pass_registry.h for the others).
inline constexpr int kStageHostLowering = 550;  // float leftovers -> host ops
inline constexpr int kStageBalance = 850;       // after fusion, before final dce

void RegisterLowerNeuronsPass(passes::PassRegistry& registry);    // lower_neurons.cc
void RegisterLowerPoolingPass(passes::PassRegistry& registry);    // lower_pooling.cc
void RegisterLowerAttentionPass(passes::PassRegistry& registry);  // lower_attention.cc
void RegisterQuantizePass(passes::PassRegistry& registry);        // quantize.cc
void RegisterLowerHostPass(passes::PassRegistry& registry);       // lower_host.cc
void RegisterFuseHostPass(passes::PassRegistry& registry);        // fuse_host.cc
void RegisterBalanceDelaysPass(passes::PassRegistry& registry);   // balance_delays.cc

// All of the above, in running order. Call after RegisterBuiltinPasses.
void RegisterLoweringPasses(passes::PassRegistry& registry);

// Layout ops: they only move elements (codegen folds them into index maps).
bool IsLayoutOp(const ir::Operation& op);
// Lowered neuron ops: cuba_lif, relay, and2, accumulate.
bool IsNeuronOp(const ir::Operation& op);
bool IsSynapseOp(const ir::Operation& op);

// Replaces `op` (one result) by a `host` op with the executor's name and
// attributes for it (see lower_host.cc), result f32 or, when `graded`,
// graded (a value entering the chip). Null, with an error at op, when the
// executor has no such op.
ir::Operation* ConvertToHost(ir::Module& module, ir::Operation* op, bool graded,
                             ir::DiagnosticEngine& diags);

// The problems that keep `module` from being in lowered normal form, one
// line each (empty: it is). See docs/lowering.md#normal-form.
std::vector<std::string> CheckLoweredNormalForm(const ir::Module& module);

}  // namespace spk::compiler::lowering

#endif  // SPK_COMPILER_LOWERING_LOWERING_H_
