// spikectl stream: feeds spike events to a deployment through a streaming
// session and prints each output chunk as it arrives.
//
// Events are read as text, one "TIMESTEP INDEX" per line, and sent as
// SPIKES chunks (or, with --dense, as per-timestep tensors of the port).
#include <fstream>
#include <sstream>

#include "cli/spikectl/infer.h"
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

void PrintChunk(Context& ctx, const nlohmann::json& outputs, const protocol::StreamChunk& chunk) {
  const std::string port =
      chunk.port < outputs.size() ? outputs[chunk.port].value("name", "?") : "?";
  nlohmann::json line = {{"first_step", chunk.first_step}, {"steps", chunk.steps}, {"port", port}};
  std::optional<size_t> prediction;
  if (const auto* t = std::get_if<protocol::Tensor>(&chunk.body)) {
    line["shape"] = t->shape;
    line["values"] = t->ToFloat();
    prediction = Prediction(*t);
  } else {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : std::get<protocol::SpikeEvents>(chunk.body).events) {
      events.push_back({e.timestep, e.index});
    }
    line["events"] = events;
  }
  line["prediction"] = prediction ? nlohmann::json(*prediction) : nlohmann::json();
  if (ctx.json) {
    *ctx.out << line.dump() << "\n" << std::flush;  // JSON Lines, as they come
    return;
  }
  *ctx.out << "step " << chunk.first_step << "  " << port;
  if (prediction) *ctx.out << "  prediction " << *prediction;
  *ctx.out << "\n" << std::flush;
}

}  // namespace

int RunStream(Context& ctx, const Args& args) {
  if (args.positional.empty() || args.positional.size() > 2) {
    return UsageError(ctx, "stream", "needs DEPLOYMENT and optionally an EVENTS file");
  }
  const std::string& name = args.positional[0];
  const std::string path = args.positional.size() > 1 ? args.positional[1] : "-";
  auto per_chunk = args.Uint("steps-per-chunk", 1, 4096);
  auto total_steps = args.Uint("steps", 1, 1u << 30);
  if (!per_chunk.ok()) return UsageError(ctx, "stream", std::string(per_chunk.status().message()));
  if (!total_steps.ok())
    return UsageError(ctx, "stream", std::string(total_steps.status().message()));
  const uint32_t chunk_steps = static_cast<uint32_t>(per_chunk->value_or(1));

  // Read every event first: a file is small next to the session's rate, and
  // errors in it are reported before the session opens.
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file)
      return Fail(ctx, "stream", NotFoundError("cannot open " + path), nullptr, kExitUsage);
    in = &file;
  }
  std::vector<std::pair<uint64_t, uint64_t>> events;
  std::string text;
  for (size_t line = 1; std::getline(*in, text); ++line) {
    if (const size_t hash = text.find('#'); hash != std::string::npos) text.resize(hash);
    std::istringstream fields(text);
    uint64_t t = 0, i = 0;
    if (!(fields >> t)) continue;  // blank line
    std::string extra;
    if (!(fields >> i) || (fields >> extra)) {
      return Fail(
          ctx, "stream",
          InvalidArgumentError(path + ":" + std::to_string(line) + ": expected TIMESTEP INDEX"),
          nullptr, kExitUsage);
    }
    if (!events.empty() && t < events.back().first) {
      return Fail(
          ctx, "stream",
          InvalidArgumentError(path + ":" + std::to_string(line) + ": timesteps must not decrease"),
          nullptr, kExitUsage);
    }
    events.emplace_back(t, i);
  }
  uint64_t steps = events.empty() ? 0 : events.back().first + 1;
  if (*total_steps) steps = std::max<uint64_t>(steps, **total_steps);
  if (steps == 0) return UsageError(ctx, "stream", "no events and no --steps: nothing to stream");

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "stream", connection.status());
  client::Client& c = **connection;
  protocol::SessionOpenRequest request;
  request.deployment = name;
  auto session = c.OpenSession(request);
  if (!session.ok()) return Fail(ctx, "stream", session.status(), c.last_error_details());
  const nlohmann::json& info = (*session)->info();
  const auto inputs = info.value("inputs", nlohmann::json::array());
  const auto outputs = info.value("outputs", nlohmann::json::array());
  if (inputs.size() != 1 || !inputs[0].contains("shape")) {
    return Fail(ctx, "stream", UnimplementedError("stream needs a deployment with one input"));
  }
  const auto shape = inputs[0]["shape"].get<std::vector<uint32_t>>();
  uint64_t neurons = 1;
  for (uint32_t d : shape) neurons *= d;

  // Events go as SPIKES chunks (docs/protocol.md, "Streaming sessions");
  // --dense sends the same steps as [steps, ...port shape] tensors.
  const bool dense = args.Has("dense");
  size_t next = 0;
  for (uint64_t first = 0; first < steps; first += chunk_steps) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk_steps, steps - first));
    std::vector<float> frame(dense ? n * neurons : 0, 0.0f);
    protocol::SpikeEvents spikes;
    for (; next < events.size() && events[next].first < first + n; ++next) {
      const auto [t, i] = events[next];
      if (i >= neurons) {
        return Fail(ctx, "stream",
                    InvalidArgumentError("event at step " + std::to_string(t) + " has index " +
                                         std::to_string(i) + "; the input port has " +
                                         std::to_string(neurons) + " neurons"),
                    nullptr, kExitUsage);
      }
      if (dense) {
        frame[(t - first) * neurons + i] = 1.0f;
      } else {
        spikes.events.push_back({static_cast<uint32_t>(t - first), static_cast<uint32_t>(i), 0});
      }
    }
    std::vector<uint32_t> chunk_shape = {n};
    chunk_shape.insert(chunk_shape.end(), shape.begin(), shape.end());
    std::variant<protocol::Tensor, protocol::SpikeEvents> body = std::move(spikes);
    if (dense)
      body = protocol::Tensor::FromValues<float>(chunk_shape, std::span<const float>(frame));
    Status pushed = (*session)->Push(0, n, std::move(body));
    if (!pushed.ok()) return Fail(ctx, "stream", pushed, c.last_error_details());
    auto arrived = (*session)->TakeArrived();
    if (!arrived.ok()) return Fail(ctx, "stream", arrived.status());
    for (const auto& chunk : *arrived) PrintChunk(ctx, outputs, chunk);
  }
  // Outputs come as steps complete; drain them with the close.
  std::vector<protocol::StreamChunk> remaining;
  auto totals = (*session)->Close(/*drain=*/true, &remaining);
  if (!totals.ok()) return Fail(ctx, "stream", totals.status(), c.last_error_details());
  for (const auto& chunk : remaining) PrintChunk(ctx, outputs, chunk);
  if (ctx.json) {
    *ctx.out << nlohmann::json{{"closed", *totals}}.dump() << "\n";
  } else {
    *ctx.out << "session " << Field(*totals, "session") << " closed after " << steps << " steps\n";
  }
  return kExitOk;
}

}  // namespace spk::spikectl
