// spikectl infer: one inference; prints the prediction, latency and energy.
#include "cli/spikectl/infer.h"

#include "cli/spikectl/input.h"
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

nlohmann::json FindInputPort(const nlohmann::json& deployment, const std::string& name) {
  const auto inputs = deployment.value("inputs", nlohmann::json::array());
  for (const auto& p : inputs) {
    if (!name.empty() && p.value("name", "") == name) return p;
  }
  if (name.empty() && inputs.size() == 1) return inputs[0];
  return nullptr;
}

StatusOr<protocol::Tensor> ReadInputFor(const Args& args, const std::string& path,
                                        const nlohmann::json& port) {
  InputSpec spec;
  spec.path = path;
  SPK_ASSIGN_OR_RETURN(spec.format, ParseInputFormat(args.Value("format").value_or("auto")));
  if (auto dtype = args.Value("dtype")) {
    SPK_ASSIGN_OR_RETURN(spec.dtype, protocol::DTypeFromName(*dtype));
  }
  if (auto shape = args.Value("shape")) {
    SPK_ASSIGN_OR_RETURN(spec.shape, ParseShape(*shape));
  }
  // Raw input without --shape/--dtype: take them from the port.
  const bool raw = spec.format == InputFormat::kRaw ||
                   (spec.format == InputFormat::kAuto && path.find(".npy") == std::string::npos &&
                    path.find(".json") == std::string::npos);
  if (raw && port.is_object()) {
    if (!spec.shape && port.contains("shape") && port["shape"].is_array()) {
      spec.shape = port["shape"].get<std::vector<uint32_t>>();
    }
    if (!spec.dtype && port.contains("dtype") && port["dtype"].is_string()) {
      auto dtype = protocol::DTypeFromName(port["dtype"].get<std::string>());
      if (dtype.ok()) spec.dtype = *dtype;
    }
    // A port that does not name its dtype takes f32 (graded or dense input).
    if (!spec.dtype && spec.shape) spec.dtype = protocol::DType::kF32;
  }
  SPK_ASSIGN_OR_RETURN(protocol::Tensor tensor, ReadInput(spec));
  if (!spec.shape && port.is_object() && port.contains("shape") && port["shape"].is_array()) {
    const auto want = port["shape"].get<std::vector<uint32_t>>();
    uint64_t n = 1;
    for (uint32_t d : want) n *= d;
    if (want != tensor.shape && n == tensor.element_count()) {
      SPK_ASSIGN_OR_RETURN(tensor, Reshape(std::move(tensor), want));
    }
  }
  return tensor;
}

std::optional<size_t> Prediction(const protocol::Tensor& scores) {
  if (scores.shape.empty()) return std::nullopt;
  const size_t classes = scores.shape.back();
  if (classes == 0) return std::nullopt;
  const std::vector<float> values = scores.ToFloat();
  std::vector<float> sum(classes, 0.0f);
  for (size_t i = 0; i < values.size(); ++i) sum[i % classes] += values[i];
  return client::ArgMax(sum);
}

nlohmann::json OutputsJson(const client::InferResult& result) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const std::string& port : result.ports) {
    if (auto t = result.tensors.find(port); t != result.tensors.end()) {
      const protocol::Tensor& tensor = t->second;
      outputs.push_back({{"port", port},
                         {"kind", "tensor"},
                         {"dtype", std::string(protocol::DTypeName(tensor.dtype))},
                         {"shape", tensor.shape},
                         {"values", tensor.ToFloat()}});
    }
    if (auto s = result.spikes.find(port); s != result.spikes.end()) {
      const protocol::SpikeEvents& spikes = s->second;
      nlohmann::json events = nlohmann::json::array();
      for (const auto& e : spikes.events) {
        events.push_back(spikes.graded ? nlohmann::json{e.timestep, e.index, e.payload}
                                       : nlohmann::json{e.timestep, e.index});
      }
      outputs.push_back(
          {{"port", port}, {"kind", "spikes"}, {"graded", spikes.graded}, {"events", events}});
    }
  }
  return outputs;
}

int RunInfer(Context& ctx, const Args& args) {
  if (args.positional.size() != 2) {
    return UsageError(ctx, "infer", "needs DEPLOYMENT and an INPUT file");
  }
  const std::string& name = args.positional[0];
  protocol::InferRequest request;
  request.deployment = name;
  auto timesteps = args.Uint("timesteps", 0, 1000000);
  if (!timesteps.ok()) return UsageError(ctx, "infer", std::string(timesteps.status().message()));
  if (*timesteps) request.timesteps = static_cast<uint32_t>(**timesteps);
  const std::string outputs = args.Value("outputs").value_or("scores");
  if (outputs == "spikes") {
    request.outputs = protocol::OutputSelection::kSpikes;
  } else if (outputs == "all") {
    request.outputs = protocol::OutputSelection::kAll;
  } else if (outputs != "scores") {
    return UsageError(ctx, "infer", "--outputs takes scores, spikes or all");
  }

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "infer", connection.status());
  client::Client& c = **connection;
  auto deployment = c.DescribeDeployment(name);
  if (!deployment.ok()) return Fail(ctx, "infer", deployment.status());
  const std::string port_name = args.Value("port").value_or("");
  const nlohmann::json port = FindInputPort(*deployment, port_name);
  if (!port_name.empty() && port.is_null()) {
    return Fail(ctx, "infer",
                NotFoundError("deployment '" + name + "' has no input port '" + port_name + "'"));
  }
  auto tensor = ReadInputFor(args, args.positional[1], port);
  if (!tensor.ok()) return Fail(ctx, "infer", tensor.status(), nullptr, kExitUsage);

  client::InferInput input{port_name, std::move(tensor).value()};
  auto result = c.Infer(request, std::span<const client::InferInput>(&input, 1));
  if (!result.ok()) return Fail(ctx, "infer", result.status(), c.last_error_details());

  std::optional<size_t> prediction;
  if (const auto* first = result->FirstTensor()) prediction = Prediction(*first);
  const nlohmann::json& body = result->body;
  if (ctx.json) {
    nlohmann::json out = {
        {"deployment", body.value("deployment", name)},
        {"board", body.value("board", nlohmann::json())},
        {"timesteps", body.value("timesteps", nlohmann::json())},
        {"steps", body.value("steps", nlohmann::json())},
        {"prediction", prediction ? nlohmann::json(*prediction) : nlohmann::json()},
        {"outputs", OutputsJson(*result)},
        {"latency_seconds", body.value("latency_seconds", nlohmann::json())},
        {"chip_seconds", body.value("chip_seconds", nlohmann::json())},
        {"energy_joules", body.value("energy_joules", nlohmann::json())}};
    PrintJson(*ctx.out, out);
    return kExitOk;
  }
  KeyValues kv;
  if (prediction) kv.Add("prediction", std::to_string(*prediction));
  for (const std::string& p : result->ports) {
    if (auto t = result->tensors.find(p); t != result->tensors.end()) {
      std::string values;
      const auto v = t->second.ToFloat();
      for (size_t i = 0; i < v.size() && i < 16; ++i) {
        values += (i ? " " : "") + FormatFixed(v[i], 3);
      }
      if (v.size() > 16) values += " ... (" + std::to_string(v.size()) + " values)";
      kv.Add(p, values);
    }
    if (auto s = result->spikes.find(p); s != result->spikes.end()) {
      kv.Add(p, std::to_string(s->second.events.size()) + " spikes");
    }
  }
  const auto number = [&](const char* key) {
    return body.contains(key) && body[key].is_number() ? body[key].get<double>() : 0.0;
  };
  kv.Add("latency", FormatSeconds(number("latency_seconds")) + " (chip " +
                        FormatSeconds(number("chip_seconds")) + ", " + Field(body, "steps") +
                        " steps)");
  const auto energy = body.value("energy_joules", nlohmann::json::object());
  const auto joules = [&](const char* key) {
    return energy.contains(key) && energy[key].is_number() ? energy[key].get<double>() : 0.0;
  };
  kv.Add("energy", FormatJoules(joules("total")) + " (dynamic " + FormatJoules(joules("dynamic")) +
                       ", static " + FormatJoules(joules("static")) + ")");
  kv.Print(*ctx.out);
  return kExitOk;
}

}  // namespace spk::spikectl
