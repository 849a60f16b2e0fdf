// spikectl doctor: checks, in order, what a user needs for spikectl to
// work: versions, the socket and its permissions, the connection and
// handshake, write access, readiness, each board's health and firmware, and
// the offline compiler. Every failed check says what to do. Exit status 6
// when any check fails (warnings do not count).
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "cli/spikectl/output.h"
#include "cli/spikectl/verbs.h"
#include "daemon/protocol/handshake.h"
#include "daemon/protocol/socket_path.h"

extern char** environ;

namespace spk::spikectl {
namespace {

// The board wire protocol major this release's driver speaks
// (drivers/loihi3: protocol_version is major << 8 | minor).
constexpr uint32_t kBoardProtocolMajor = 1;
// ... and the oldest firmware it accepts (docs/board-protocol.md, "Versions").
constexpr int kMinFirmwareMajor = 1;

struct Checks {
  nlohmann::json list = nlohmann::json::array();
  bool failed = false;
  void Add(const std::string& check, const std::string& status, const std::string& detail,
           const std::string& fix = "") {
    nlohmann::json item = {{"check", check}, {"status", status}, {"detail", detail}};
    if (!fix.empty()) item["fix"] = fix;
    list.push_back(item);
    failed = failed || status == "fail";
  }
};

std::string GroupName(gid_t gid) {
  const group* g = ::getgrgid(gid);
  return g != nullptr ? g->gr_name : std::to_string(gid);
}

std::string Mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode & 07777);
  return buf;
}

}  // namespace

nlohmann::json CheckBoard(const nlohmann::json& b) {
  const auto health_of = b.value("health", nlohmann::json::object());
  const std::string state = health_of.value("state", "unknown");
  std::string detail = Field(b, "board_profile") + ", " + state;
  if (health_of.contains("detail") && health_of["detail"].is_string() &&
      !health_of["detail"].get<std::string>().empty()) {
    detail += " (" + health_of["detail"].get<std::string>() + ")";
  }
  std::string status = state == "ok" ? "ok" : state == "degraded" ? "warn" : "fail";
  std::string fix;
  if (b.value("emulated", false)) {
    detail += "; emulated, no firmware";
  } else {
    const uint32_t version = b.value("protocol_version", 0u);
    detail += "; firmware " + Field(b, "firmware_version") + ", board protocol " +
              std::to_string(version >> 8) + "." + std::to_string(version & 0xff);
    const std::string firmware = b.value("firmware_version", "");
    const int firmware_major = std::atoi(firmware.c_str());
    if (version >> 8 != kBoardProtocolMajor) {
      status = "fail";
      fix = "this release speaks board protocol " + std::to_string(kBoardProtocolMajor) +
            ".x; update the board's firmware or spiked";
    } else if (firmware_major < kMinFirmwareMajor) {
      status = "fail";
      fix = "the loihi3 driver needs firmware >= " + std::to_string(kMinFirmwareMajor) +
            ".0.0 (docs/board-protocol.md); update the board's firmware";
    }
  }
  if (status != "ok" && fix.empty()) fix = "see `spikectl health` and the daemon's log";
  nlohmann::json check = {
      {"check", "board " + Field(b, "board")}, {"status", status}, {"detail", detail}};
  if (!fix.empty()) check["fix"] = fix;
  return check;
}

int RunDoctor(Context& ctx, const Args& args) {
  if (!args.positional.empty()) return UsageError(ctx, "doctor", "takes no arguments");
  Checks checks;
  checks.Add("spikectl", "ok",
             std::string("spikectl ") + kVersion + ", protocol " +
                 protocol::kOldestProtocolVersion.ToString() + ".." +
                 protocol::kProtocolVersion.ToString());

  // Which socket, and may we use it?
  std::vector<std::string> candidates;
  if (!ctx.socket.empty()) {
    candidates.push_back(ctx.socket);
  } else {
    protocol::EnvironmentMap env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string entry(*e);
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    candidates = protocol::ClientSocketCandidates(env, ::getuid());
  }
  std::string socket;
  for (const auto& path : candidates) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      socket = path;
      if (!S_ISSOCK(st.st_mode)) {
        checks.Add("socket", "fail", path + " exists but is not a socket",
                   "remove it and restart spiked");
        socket.clear();
      } else if (::access(path.c_str(), R_OK | W_OK) != 0) {
        checks.Add("socket", "fail",
                   path + " is mode " + Mode(st.st_mode) + ", group " + GroupName(st.st_gid) +
                       "; uid " + std::to_string(::getuid()) + " may not connect",
                   "ask an administrator to add you to group '" + GroupName(st.st_gid) +
                       "', then log in again");
        socket.clear();
      } else {
        checks.Add("socket", "ok",
                   path + " (mode " + Mode(st.st_mode) + ", group " + GroupName(st.st_gid) + ")");
      }
      break;
    }
  }
  if (socket.empty() && (checks.list.size() == 1)) {
    std::string tried;
    for (const auto& p : candidates) tried += (tried.empty() ? "" : ", ") + p;
    checks.Add("socket", "fail", "no socket at " + tried,
               "start spiked (systemctl start spiked, or run spiked), or point --socket or "
               "$SPIKED_SERVER_SOCKET at it");
  }

  if (!socket.empty()) {
    Context at = ctx;
    at.socket = socket;
    auto connection = at.Connect();
    if (!connection.ok()) {
      checks.Add("connect", "fail", std::string(connection.status().message()),
                 HintFor(connection.status(), "doctor"));
    } else {
      client::Client& c = **connection;
      const auto& hello = c.hello();
      checks.Add("connect", "ok",
                 hello.server + ", protocol " + hello.version.ToString() + " negotiated");
      if (hello.peer.authorised) {
        checks.Add("permissions", "ok",
                   "uid " + std::to_string(hello.peer.uid) +
                       " may deploy, infer and stream (write operations)");
      } else {
        checks.Add("permissions", "warn",
                   "uid " + std::to_string(hello.peer.uid) +
                       " may only read (ls, describe, boards, health, telemetry)",
                   "to deploy or infer, join the daemon's authorised group (usually 'spiked')");
      }
      auto health = c.Health();
      if (!health.ok()) {
        checks.Add("ready", "fail", std::string(health.status().message()));
      } else if (health->value("ready", false)) {
        checks.Add("ready", "ok", "live and ready");
      } else {
        std::string reasons;
        for (const auto& r : health->value("reasons", nlohmann::json::array())) {
          reasons += (reasons.empty() ? "" : "; ") + Cell(r);
        }
        checks.Add("ready", "fail", "live but not ready: " + reasons,
                   "see `spikectl health` and the daemon's log");
      }
      auto boards = c.Boards();
      if (!boards.ok()) {
        checks.Add("boards", "fail", std::string(boards.status().message()));
      } else if (boards->value("boards", nlohmann::json::array()).empty()) {
        checks.Add("boards", "fail", "spiked has no boards",
                   "plug in a board or enable the emulator");
      }
      for (const auto& b : boards.ok() ? boards->value("boards", nlohmann::json::array())
                                       : nlohmann::json::array()) {
        const nlohmann::json check = CheckBoard(b);
        checks.Add(check["check"], check["status"], check["detail"], check.value("fix", ""));
      }
    }
  }

  auto compiler = FindCompiler(args.Value("compiler").value_or(""));
  if (compiler.ok()) {
    checks.Add("compiler", "ok", *compiler + " (for `spikectl compile`)");
  } else {
    checks.Add("compiler", "warn", std::string(compiler.status().message()),
               "only `spikectl compile` needs it; the daemon uses its compile.command");
  }

  if (ctx.json) {
    PrintJson(*ctx.out, {{"ok", !checks.failed}, {"checks", checks.list}});
  } else {
    Table table({{"CHECK"}, {"STATUS"}, {"DETAIL"}});
    for (const auto& c : checks.list) {
      table.AddRow({c["check"], c["status"], c["detail"]});
    }
    table.Print(*ctx.out);
    for (const auto& c : checks.list) {
      if (c.contains("fix"))
        *ctx.out << "fix (" << c["check"].get<std::string>() << "): " << c["fix"].get<std::string>()
                 << "\n";
    }
  }
  return checks.failed ? kExitNotReady : kExitOk;
}

}  // namespace spk::spikectl
