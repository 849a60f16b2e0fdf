// spikectl version: this client's version and protocol range, and the
// daemon's answer to `version`. Exit 3 when the daemon cannot be reached
// (the error names every socket tried).
#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"
#include "daemon/protocol/handshake.h"

namespace spk::spikectl {

int RunVersion(Context& ctx, const Args& args) {
  if (!args.positional.empty()) return UsageError(ctx, "version", "takes no arguments");
  const nlohmann::json client = {{"spikectl", kVersion},
                                 {"protocol_min", protocol::kOldestProtocolVersion.ToString()},
                                 {"protocol_max", protocol::kProtocolVersion.ToString()}};
  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "version", connection.status());
  auto server = (*connection)->Version();
  if (!server.ok()) return Fail(ctx, "version", server.status());
  if (ctx.json) {
    PrintJson(*ctx.out,
              {{"client", client}, {"server", *server}, {"socket", (*connection)->socket_path()}});
    return kExitOk;
  }
  KeyValues kv;
  kv.Add("spikectl", std::string(kVersion) + " (protocol " +
                         client["protocol_min"].get<std::string>() + ".." +
                         client["protocol_max"].get<std::string>() + ")");
  kv.Add("spiked", Field(*server, "server") + " (protocol " + Field(*server, "protocol") + ")");
  kv.Add("board image format", Field(*server, "board_image_format"));
  if (server->contains("build") && (*server)["build"].is_object()) {
    std::string build = Field((*server)["build"], "type");
    for (const char* part : {"torch", "usb"}) {
      if ((*server)["build"].value(part, false)) build += std::string(", ") + part;
    }
    kv.Add("build", build);
  }
  kv.Add("socket", (*connection)->socket_path());
  kv.Print(*ctx.out);
  return kExitOk;
}

}  // namespace spk::spikectl
