// spikectl telemetry: the newest sample per board, once or --watch.
#include <chrono>
#include <thread>

#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

// "unsupported" stays visible; numbers get the requested precision.
std::string Measured(const nlohmann::json& value, int decimals) {
  if (value.is_number()) return FormatFixed(value.get<double>(), decimals);
  if (value.is_string()) return value.get<std::string>();
  return "-";
}

void PrintSample(std::ostream& out, const nlohmann::json& latest) {
  Table table({{"BOARD"},
               {"TIME (UTC)"},
               {"POWER W", true},
               {"TEMP C", true},
               {"ENERGY J", true},
               {"STEPS", true},
               {"ERRORS", true},
               {"RAILS"}});
  for (const auto& b : latest.value("boards", nlohmann::json::array())) {
    const auto rails = b.value("power_watts", nlohmann::json::object());
    double total = 0;
    bool any = false;
    std::string detail;
    for (const auto& [rail, watts] : rails.items()) {
      if (watts.is_number()) {
        total += watts.get<double>();
        any = true;
      }
      detail += (detail.empty() ? "" : " ") + rail + "=" + Measured(watts, 3);
    }
    table.AddRow({Field(b, "board"), FormatTime(b.value("timestamp", nlohmann::json())),
                  any ? FormatFixed(total, 3) : "unsupported",
                  Measured(b.value("temperature_celsius", nlohmann::json()), 1),
                  Measured(b.value("energy_joules_total", nlohmann::json()), 4),
                  Field(b, "steps_total"), Field(b, "errors_total"), detail});
  }
  table.Print(out);
}

}  // namespace

int RunTelemetry(Context& ctx, const Args& args) {
  if (!args.positional.empty()) return UsageError(ctx, "telemetry", "takes no arguments");
  auto interval = args.Seconds("interval");
  auto count = args.Uint("count", 1, 1u << 30);
  if (!interval.ok()) return UsageError(ctx, "telemetry", std::string(interval.status().message()));
  if (!count.ok()) return UsageError(ctx, "telemetry", std::string(count.status().message()));
  const bool watch = args.Has("watch");
  const double every = interval->value_or(2.0);
  if (watch && every <= 0) return UsageError(ctx, "telemetry", "--interval must be positive");
  const uint64_t samples = watch ? count->value_or(0) : 1;  // 0: until interrupted

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "telemetry", connection.status());
  const std::string board = args.Value("board").value_or("");
  for (uint64_t n = 0; samples == 0 || n < samples; ++n) {
    if (n > 0) std::this_thread::sleep_for(std::chrono::duration<double>(every));
    auto response = (*connection)->TelemetryLatest(board);
    if (!response.ok()) return Fail(ctx, "telemetry", response.status());
    // The daemon's telemetry.latest response is the documented document.
    const nlohmann::json& latest = *response;
    if (ctx.json) {
      if (watch) {
        *ctx.out << latest.dump() << "\n" << std::flush;  // JSON Lines
      } else {
        PrintJson(*ctx.out, latest);
      }
    } else {
      if (n > 0) *ctx.out << "\n";
      PrintSample(*ctx.out, latest);
      ctx.out->flush();
    }
  }
  return kExitOk;
}

}  // namespace spk::spikectl
