// spikectl boards: every board with its profile, cores and health.
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

int RunBoards(Context& ctx, const Args& args) {
  if (!args.positional.empty()) return UsageError(ctx, "boards", "takes no arguments");
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "boards", connection.status());
  auto boards = (*connection)->Boards();
  if (!boards.ok()) return Fail(ctx, "boards", boards.status());
  if (ctx.json) {
    PrintJson(*ctx.out, *boards);
    return kExitOk;
  }
  Table table({{"BOARD"},
               {"DRIVER"},
               {"PROFILE"},
               {"CHIP"},
               {"CORES FREE", true},
               {"FIRMWARE"},
               {"HEALTH"},
               {"DEPLOYMENTS"}});
  for (const auto& b : boards->value("boards", nlohmann::json::array())) {
    std::string driver = Field(b, "driver");
    if (b.value("emulated", false)) driver += " (emulated)";
    const auto health = b.value("health", nlohmann::json::object());
    table.AddRow({Field(b, "board"), driver, Field(b, "board_profile"), Field(b, "chip_profile"),
                  Field(b, "cores_free") + "/" + Field(b, "cores_total"),
                  Field(b, "firmware_version"), Field(health, "state"), Field(b, "deployments")});
  }
  if (table.rows() == 0) {
    *ctx.out << "no boards (spiked found none and has no emulator configured)\n";
    return kExitOk;
  }
  table.Print(*ctx.out);
  return kExitOk;
}

}  // namespace spk::spikectl
