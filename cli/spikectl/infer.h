// What infer and measure share: reading the input for a deployment's port
// and reading a prediction out of the scores.
#ifndef SPK_CLI_SPIKECTL_INFER_H_
#define SPK_CLI_SPIKECTL_INFER_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "cli/client/client.h"
#include "cli/spikectl/common.h"

namespace spk::spikectl {

// Reads INPUT as --format/--dtype/--shape say. When `port` (from describe)
// has a shape and the tensor holds exactly as many elements, the tensor
// takes the port's shape, so [8, 8] works for a [1, 1, 8, 8] port.
// INVALID_ARGUMENT/NOT_FOUND for the file; the caller maps them to usage.
StatusOr<protocol::Tensor> ReadInputFor(const Args& args, const std::string& path,
                                        const nlohmann::json& port);

// The input port named --port, else the only one; null when not known.
nlohmann::json FindInputPort(const nlohmann::json& deployment, const std::string& name);

// The class with the highest score, summing over leading dimensions (a
// [T, classes] output votes per timestep); nullopt for no scores.
std::optional<size_t> Prediction(const protocol::Tensor& scores);

// {"port", "kind": "tensor", "dtype", "shape", "values"} or
// {"port", "kind": "spikes", "events": [[t, i], ...]} per output.
nlohmann::json OutputsJson(const client::InferResult& result);

}  // namespace spk::spikectl

#endif  // SPK_CLI_SPIKECTL_INFER_H_
