// The board images the conformance suite loads: small, valid, and with
// outputs known exactly from their inputs.
//
// An echo image of `cores` logical cores has one binary input port "in" of
// `width` spikes per step. On each logical core c a CUBA LIF group of `width`
// neurons (du = dv = 4095, vth = 0, so nothing survives a step and any
// positive input fires) reads "in" through an identity dense table; the
// binary output port "out" holds the groups' spikes side by side, cores *
// width per step. The synapse layer delays by one step, so out[t] repeats
// in[t - 1] once per core, and out[0] repeats the last input step of the
// previous run (input still in flight) or is zero after a load or ResetState.
//
// Thread safety: pure functions.
#ifndef SPK_HAL_CTS_ECHO_IMAGE_H_
#define SPK_HAL_CTS_ECHO_IMAGE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hal/format/board_image.h"

namespace spk::hal::cts {

inline constexpr uint32_t kEchoWidth = 8;

format::BoardImage MakeEchoImage(const std::string& chip_profile, uint32_t cores,
                                 uint32_t width = kEchoWidth);

// What "out" records for `steps` steps of `input` (steps x width, step-major);
// `carry` is the previous run's last input step, or empty.
std::vector<int32_t> ExpectedEchoOutput(std::span<const int32_t> input, uint32_t steps,
                                        uint32_t cores, std::span<const int32_t> carry = {},
                                        uint32_t width = kEchoWidth);

// Binary spikes, steps x width, each set with probability ~1/3, from a
// deterministic generator; the last step always has at least one spike so a
// carried-over input is visible.
std::vector<int32_t> MakeEchoInput(uint32_t seed, uint32_t steps, uint32_t width = kEchoWidth);

}  // namespace spk::hal::cts

#endif  // SPK_HAL_CTS_ECHO_IMAGE_H_
