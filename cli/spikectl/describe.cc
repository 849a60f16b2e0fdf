// spikectl describe: a deployment's ports, partition and compile report.
#include "cli/spikectl/output.h"
#include "cli/spikectl/report.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

int RunDescribe(Context& ctx, const Args& args) {
  if (args.positional.size() != 1) return UsageError(ctx, "describe", "needs one DEPLOYMENT");
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "describe", connection.status());
  auto d = (*connection)->DescribeDeployment(args.positional[0]);
  if (!d.ok()) return Fail(ctx, "describe", d.status(), (*connection)->last_error_details());
  if (ctx.json) {
    PrintJson(*ctx.out, *d);
    return kExitOk;
  }
  std::ostream& out = *ctx.out;
  KeyValues kv;
  kv.Add("name", Field(*d, "deployment"));
  kv.Add("state", Field(*d, "state"));
  kv.Add("board", Field(*d, "board") + " (" + Field(*d, "chip_profile") + ")");
  const auto partition = d->value("partition", nlohmann::json::object());
  kv.Add("cores",
         Field(*d, "cores") + ": " + CoreRanges(partition.value("cores", nlohmann::json())));
  kv.Add("timesteps", Field(*d, "timesteps"));
  kv.Add("failover", Field(*d, "failover"));
  kv.Add("sessions", Field(*d, "sessions"));
  kv.Add("inferences", Field(*d, "inferences"));
  kv.Add("created", FormatTime(d->value("created", nlohmann::json())) + " UTC");
  kv.Add("model sha256", Field(*d, "model_sha256"));
  kv.Add("image sha256", Field(*d, "image_sha256"));
  kv.Print(out);
  out << "\n";
  PrintPorts(out, *d);
  if (d->contains("report")) {
    out << "\n";
    PrintReport(out, (*d)["report"]);
  }
  return kExitOk;
}

}  // namespace spk::spikectl
