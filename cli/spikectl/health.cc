// spikectl health: live / ready, why not ready, boards and deployments.
// Exit status 6 when the daemon answers but is not ready, so scripts and
// orchestrators can use it as a readiness probe.
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

int RunHealth(Context& ctx, const Args& args) {
  if (args.positional.size() > 1) return UsageError(ctx, "health", "takes at most one deployment");
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "health", connection.status());
  auto health = (*connection)->Health(args.positional.empty() ? "" : args.positional[0]);
  if (!health.ok()) return Fail(ctx, "health", health.status());
  const bool ready = health->value("ready", false);
  if (ctx.json) {
    PrintJson(*ctx.out, *health);
    return ready ? kExitOk : kExitNotReady;
  }
  std::ostream& out = *ctx.out;
  out << "live: " << (health->value("live", false) ? "yes" : "no")
      << "   ready: " << (ready ? "yes" : "no") << "\n";
  for (const auto& reason : health->value("reasons", nlohmann::json::array())) {
    out << "  not ready: " << Cell(reason) << "\n";
  }
  const auto boards = health->value("boards", nlohmann::json::array());
  if (!boards.empty()) {
    out << "\n";
    Table table({{"BOARD"}, {"STATE"}, {"DETAIL"}});
    for (const auto& b : boards)
      table.AddRow({Field(b, "board"), Field(b, "state"), Field(b, "detail")});
    table.Print(out);
  }
  const auto deployments = health->value("deployments", nlohmann::json::array());
  if (!deployments.empty()) {
    out << "\n";
    Table table({{"DEPLOYMENT"}, {"READY"}, {"STATE"}, {"BOARD"}, {"DETAIL"}});
    for (const auto& d : deployments) {
      table.AddRow({Field(d, "deployment"), d.value("ready", false) ? "yes" : "no",
                    Field(d, "state"), Field(d, "board"), Field(d, "detail")});
    }
    table.Print(out);
  }
  return ready ? kExitOk : kExitNotReady;
}

}  // namespace spk::spikectl
