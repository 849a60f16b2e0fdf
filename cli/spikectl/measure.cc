// spikectl measure: N inferences of one input; latency percentiles (inside
// the daemon, on chip and round trip) and energy per inference split into
// static and dynamic, and per layer with --per-layer.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "cli/spikectl/infer.h"
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

nlohmann::json Summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {{"min", v.empty() ? 0 : v.front()}, {"p50", Percentile(v, 50)},
          {"p90", Percentile(v, 90)},         {"p99", Percentile(v, 99)},
          {"max", v.empty() ? 0 : v.back()},  {"mean", v.empty() ? 0 : sum / v.size()}};
}

double Number(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

int RunMeasure(Context& ctx, const Args& args) {
  if (args.positional.size() != 2) {
    return UsageError(ctx, "measure", "needs DEPLOYMENT and an INPUT file");
  }
  const std::string& name = args.positional[0];
  auto n = args.Value("n") ? args.Uint("n", 1, 1000000) : args.Uint("count", 1, 1000000);
  auto warmup = args.Uint("warmup", 0, 1000000);
  auto timesteps = args.Uint("timesteps", 0, 1000000);
  for (const auto* v : {&n, &warmup, &timesteps}) {
    if (!v->ok()) return UsageError(ctx, "measure", std::string(v->status().message()));
  }
  const uint64_t count = n->value_or(100);
  const bool per_layer = args.Has("per-layer");

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "measure", connection.status());
  client::Client& c = **connection;
  auto deployment = c.DescribeDeployment(name);
  if (!deployment.ok()) return Fail(ctx, "measure", deployment.status());
  const std::string port_name = args.Value("port").value_or("");
  auto tensor = ReadInputFor(args, args.positional[1], FindInputPort(*deployment, port_name));
  if (!tensor.ok()) return Fail(ctx, "measure", tensor.status(), nullptr, kExitUsage);
  const client::InferInput input{port_name, std::move(tensor).value()};

  protocol::InferRequest request;
  request.deployment = name;
  if (*timesteps) request.timesteps = static_cast<uint32_t>(**timesteps);
  if (per_layer) request.report = protocol::ReportLevel::kDetailed;

  std::vector<double> latency, chip, round_trip, dynamic, static_j, total;
  struct LayerSum {
    double joules = 0, seconds = 0;
  };
  std::map<std::string, LayerSum> layers;
  std::vector<std::string> layer_order;
  std::optional<size_t> prediction;
  double run_spikes = 0;  // boards count spikes per run, not per layer
  for (uint64_t i = 0; i < warmup->value_or(0) + count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto result = c.Infer(request, std::span<const client::InferInput>(&input, 1));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result.ok()) return Fail(ctx, "measure", result.status(), c.last_error_details());
    if (i < warmup->value_or(0)) continue;
    const nlohmann::json& body = result->body;
    latency.push_back(Number(body, "latency_seconds"));
    chip.push_back(Number(body, "chip_seconds"));
    round_trip.push_back(elapsed);
    const auto energy = body.value("energy_joules", nlohmann::json::object());
    dynamic.push_back(Number(energy, "dynamic"));
    static_j.push_back(Number(energy, "static"));
    total.push_back(Number(energy, "total"));
    if (const auto* first = result->FirstTensor()) prediction = Prediction(*first);
    if (per_layer && body.contains("report")) {
      run_spikes += Number(body["report"], "spikes");
      for (const auto& l : body["report"].value("layers", nlohmann::json::array())) {
        const std::string layer = l.value("name", "?");
        if (!layers.count(layer)) layer_order.push_back(layer);
        LayerSum& s = layers[layer];
        s.joules += Number(l, "energy_joules");
        s.seconds += Number(l, "seconds");
      }
    }
  }
  const auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / v.size();
  };
  nlohmann::json out = {
      {"deployment", name},
      {"inferences", count},
      {"warmup", warmup->value_or(0)},
      {"prediction", prediction ? nlohmann::json(*prediction) : nlohmann::json()},
      {"latency_seconds", Summary(latency)},
      {"chip_seconds", Summary(chip)},
      {"round_trip_seconds", Summary(round_trip)},
      {"energy_joules_per_inference",
       {{"dynamic", mean(dynamic)}, {"static", mean(static_j)}, {"total", mean(total)}}}};
  if (per_layer) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& layer : layer_order) {
      const LayerSum& s = layers[layer];
      list.push_back(
          {{"name", layer}, {"energy_joules", s.joules / count}, {"seconds", s.seconds / count}});
    }
    out["layers"] = list;
    out["spikes_per_inference"] = run_spikes / count;
  }
  if (ctx.json) {
    PrintJson(*ctx.out, out);
    return kExitOk;
  }
  std::ostream& o = *ctx.out;
  o << count << " inferences of " << name;
  if (prediction) o << " (prediction " << *prediction << ")";
  o << "\n\n";
  Table table(
      {{"LATENCY"}, {"P50", true}, {"P90", true}, {"P99", true}, {"MAX", true}, {"MEAN", true}});
  for (const auto& [label, key] :
       {std::pair{"in daemon", "latency_seconds"}, std::pair{"on chip", "chip_seconds"},
        std::pair{"round trip", "round_trip_seconds"}}) {
    const auto& s = out[key];
    table.AddRow({label, FormatSeconds(s["p50"]), FormatSeconds(s["p90"]), FormatSeconds(s["p99"]),
                  FormatSeconds(s["max"]), FormatSeconds(s["mean"])});
  }
  table.Print(o);
  const auto& e = out["energy_joules_per_inference"];
  o << "\nenergy per inference: " << FormatJoules(e["total"]) << " (static "
    << FormatJoules(e["static"]) << ", dynamic " << FormatJoules(e["dynamic"]) << ")\n";
  if (per_layer) {
    o << "\n";
    Table t({{"LAYER"}, {"ENERGY", true}, {"CORE TIME", true}});
    for (const auto& l : out["layers"]) {
      t.AddRow({l["name"].get<std::string>(), FormatJoules(l["energy_joules"]),
                FormatSeconds(l["seconds"])});
    }
    if (t.rows() == 0) {
      o << "the daemon sent no per-layer report\n";
    } else {
      t.Print(o);
      o << "spikes per inference: " << FormatFixed(out["spikes_per_inference"].get<double>(), 1)
        << " (the board counts them per run, not per layer)\n";
    }
  }
  return kExitOk;
}

}  // namespace spk::spikectl
