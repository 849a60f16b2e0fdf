// spikectl undeploy: unload a deployment and free its cores.
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {

int RunUndeploy(Context& ctx, const Args& args) {
  if (args.positional.size() != 1) return UsageError(ctx, "undeploy", "needs one DEPLOYMENT");
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "undeploy", connection.status());
  auto done = (*connection)->Undeploy(args.positional[0], args.Has("force"));
  if (!done.ok()) {
    return Fail(ctx, "undeploy", done.status(), (*connection)->last_error_details());
  }
  if (ctx.json) {
    PrintJson(*ctx.out, *done);
    return kExitOk;
  }
  *ctx.out << "undeployed " << Field(*done, "deployment") << ": " << Field(*done, "cores_freed")
           << " cores freed, " << Field(*done, "sessions_closed") << " sessions closed\n";
  return kExitOk;
}

}  // namespace spk::spikectl
