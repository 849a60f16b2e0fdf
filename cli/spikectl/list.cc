// spikectl ls: one line per deployment.
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

int RunList(Context& ctx, const Args& args) {
  if (!args.positional.empty()) return UsageError(ctx, "ls", "takes no arguments");
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "ls", connection.status());
  auto list = (*connection)->ListDeployments();
  if (!list.ok()) return Fail(ctx, "ls", list.status());
  if (ctx.json) {
    PrintJson(*ctx.out, *list);
    return kExitOk;
  }
  Table table({{"NAME"},
               {"STATE"},
               {"BOARD"},
               {"CHIP"},
               {"CORES", true},
               {"SESSIONS", true},
               {"INFERENCES", true},
               {"CREATED (UTC)"}});
  for (const auto& d : list->value("deployments", nlohmann::json::array())) {
    table.AddRow({Field(d, "deployment"), Field(d, "state"), Field(d, "board"),
                  Field(d, "chip_profile"), Field(d, "cores"), Field(d, "sessions"),
                  Field(d, "inferences"), FormatTime(d.value("created", nlohmann::json()))});
  }
  if (table.rows() == 0) {
    *ctx.out << "no deployments; `spikectl deploy MODEL.pt` makes one\n";
    return kExitOk;
  }
  table.Print(*ctx.out);
  return kExitOk;
}

}  // namespace spk::spikectl
