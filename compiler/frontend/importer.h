// The TorchScript frontend: a `.pt` archive saved by torch.jit.save becomes a
// spike IR module.
//
// The importer interprets the scripted module's `forward` graph abstractly:
// shapes are static (batch 1, the given input shape), so shape queries, list
// arithmetic and control flow on constants are evaluated while importing,
// and only tensor operations become IR ops. Neuron modules (this project's LIF
// and IF, and modules whose class is named like SpikingJelly's LIFNode,
// MultiStepLIFNode, IFNode or MultiStepIFNode) are kept whole; standard layers
// (Linear, Conv1d/2d, BatchNorm1d/2d, MaxPool2d, AvgPool2d, Dropout,
// Identity, Flatten) are read from their parameters; any other module is
// entered and its code read op by op. Every unsupported construct is
// reported, with its TorchScript source line and module path, before the
// import fails.
//
// Time: values that change per timestep carry the IR's T dimension. Models
// written Spikformer-style fold T into the batch ([T*B, C, H, W]) around
// stateless layers and unfold it ([T, B, ...]) for neurons; the importer
// tracks both layouts.
//
// This file is the only place in spiked that includes LibTorch headers
// (in importer.cc); this header does not.
//
// Thread safety: ImportTorchScript may run on several threads at once on
// different inputs.
#ifndef SPK_COMPILER_FRONTEND_IMPORTER_H_
#define SPK_COMPILER_FRONTEND_IMPORTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "compiler/frontend/archive_check.h"
#include "compiler/ir/diagnostics.h"
#include "compiler/ir/module.h"

namespace spk::compiler::frontend {

struct ImportOptions {
  // Shape of one input sample including the batch dim, e.g. {1, 1, 8, 8}.
  // When empty, the archive's extra/spiked.json ("input_shape") is used.
  std::vector<int64_t> input_shape;
  // Timesteps; when unset it is taken from the model (the T of its repeat
  // over time) or extra/spiked.json.
  std::optional<int64_t> timesteps;
  ArchiveLimits archive;
  int64_t max_tensor_elements = int64_t{1} << 28;   // one parameter tensor
  int64_t max_total_parameters = int64_t{1} << 30;  // all of them
  int max_call_depth = 64;                          // nested module calls
  int64_t max_unrolled_ops = 1 << 20;               // interpreted nodes
};

struct ImportResult {
  std::unique_ptr<ir::Module> module;
  std::string producer;    // "TorchScript archive format 10 (model.py)"
  int64_t parameters = 0;  // parameter and buffer elements read
};

// Reads `path` (or `bytes`, named `source_name` in messages). Unsupported
// ops and layout problems go to `diags`, all of them, and the call then
// returns INVALID_ARGUMENT; so do broken, truncated or hostile archives.
StatusOr<ImportResult> ImportTorchScriptFile(const std::string& path, const ImportOptions& options,
                                             ir::DiagnosticEngine& diags);
StatusOr<ImportResult> ImportTorchScript(std::span<const uint8_t> bytes,
                                         const std::string& source_name,
                                         const ImportOptions& options, ir::DiagnosticEngine& diags);

}  // namespace spk::compiler::frontend

#endif  // SPK_COMPILER_FRONTEND_IMPORTER_H_
