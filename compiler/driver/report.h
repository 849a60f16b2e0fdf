// The compile report: where every layer runs and what it costs, as a human
// table and as JSON (schema in docs/compiler.md).
//
// Time and energy are estimates from the chip profile's per-operation costs
// at an assumed spike rate, not measurements (spikectl measure runs the
// model for those).
//
// Thread safety: pure functions.
#ifndef SPK_COMPILER_DRIVER_REPORT_H_
#define SPK_COMPILER_DRIVER_REPORT_H_

#include <string>

#include "compiler/codegen/codegen.h"
#include "hal/format/board_image.h"
#include "hal/format/chip_profile.h"

namespace spk::compiler::driver {

struct LayerCost {
  double time_per_step_ns = 0;
  double energy_per_inference_j = 0;
};

struct ReportTotals {
  uint32_t cores = 0;
  uint32_t chips = 0;
  uint64_t neurons = 0;
  uint64_t synapses = 0;
  double time_per_step_ns = 0;
  double latency_s = 0;  // run_steps x time per step
  double dynamic_energy_j = 0;
  double static_energy_j = 0;
};

std::string ReportText(const codegen::CodegenResult& result, const hal::format::BoardImage& image,
                       const hal::format::ChipProfile& chip, double activity);
std::string ReportJson(const codegen::CodegenResult& result, const hal::format::BoardImage& image,
                       const hal::format::ChipProfile& chip, double activity);

}  // namespace spk::compiler::driver

#endif  // SPK_COMPILER_DRIVER_REPORT_H_
