// Reading inference inputs from files: NumPy .npy (format 1.0, 2.0, 3.0;
// little-endian bool, u8, i8, i16, i32, i64, f32, f64; C order), JSON
// (a nested array of numbers, or {"shape", "dtype", "data"}) and raw
// little-endian bytes with a dtype and shape given by the user.
//
// Values are converted to a protocol tensor: f64 becomes f32, i64 becomes
// i32 when every value fits, bool becomes u8. Every failure is
// INVALID_ARGUMENT naming the file and what is wrong with it.
//
// Thread safety: pure functions.
#ifndef SPK_CLI_SPIKECTL_INPUT_H_
#define SPK_CLI_SPIKECTL_INPUT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "daemon/protocol/payload.h"

namespace spk::spikectl {

enum class InputFormat { kAuto, kNpy, kJson, kRaw };

// "npy", "json", "raw", "auto"; INVALID_ARGUMENT otherwise.
StatusOr<InputFormat> ParseInputFormat(std::string_view name);
// "1,1,8,8" or "[1, 1, 8, 8]" -> dims.
StatusOr<std::vector<uint32_t>> ParseShape(std::string_view text);

StatusOr<protocol::Tensor> ParseNpy(std::span<const uint8_t> bytes, std::string_view name);
StatusOr<protocol::Tensor> ParseJsonTensor(std::string_view text, std::string_view name);
StatusOr<protocol::Tensor> ParseRaw(std::span<const uint8_t> bytes, protocol::DType dtype,
                                    const std::vector<uint32_t>& shape, std::string_view name);

struct InputSpec {
  std::string path;                            // "-" reads stdin
  InputFormat format = InputFormat::kAuto;     // kAuto: from the extension (.npy, .json), else raw
  std::optional<protocol::DType> dtype;        // raw: required
  std::optional<std::vector<uint32_t>> shape;  // raw: required; others: reshape to it
};

// Reads and converts one input file.
StatusOr<protocol::Tensor> ReadInput(const InputSpec& spec);

// Same elements under another shape; INVALID_ARGUMENT when the counts differ.
StatusOr<protocol::Tensor> Reshape(protocol::Tensor tensor, std::vector<uint32_t> shape);

// An .npy file (format 1.0) holding `tensor`, for tests and examples.
std::vector<uint8_t> EncodeNpy(const protocol::Tensor& tensor);

StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_INPUT_H_
