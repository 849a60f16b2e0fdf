#include "cli/spikectl/verbs.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "cli/spikectl/output.h"

namespace spk::spikectl {
namespace {

const Verb kVerbs[] = {
    {"version",
     "client, daemon and protocol versions",
     "spikectl version [--json]",
     {},
     {},
     RunVersion},
    {"health",
     "liveness, readiness and per-deployment readiness",
     "spikectl health [DEPLOYMENT] [--json]\n"
     "Exit status 6 when the daemon is live but not ready.",
     {},
     {},
     RunHealth},
    {"boards",
     "boards with capacity, firmware and health",
     "spikectl boards [--json]",
     {},
     {},
     RunBoards},
    {"ls", "list deployments", "spikectl ls [--json]", {}, {}, RunList},
    {"describe",
     "one deployment in full: ports, partition, compile report",
     "spikectl describe DEPLOYMENT [--json]",
     {},
     {},
     RunDescribe},
    {"deploy",
     "compile (or take from the cache) and load a model",
     "spikectl deploy MODEL.pt|IMAGE.spkimg [--name NAME] [--board BOARD] [--chip PROFILE]\n"
     "                [--cores N] [--chip-index N] [--exclusive] [--failover none|emulator]\n"
     "                [-O 0..3] [--ssa auto|host|chip] [--timesteps T] [--replace] [--upload]\n"
     "                [--progress|--no-progress] [--json]\n"
     "--upload sends the model's bytes instead of its path (for a daemon that cannot read it).\n"
     "--ssa: where spike matmuls (Spikformer attention) run; auto puts them on the chip when\n"
     "they fit. Progress is shown while compiling when stderr is a terminal.",
     {"name", "board", "chip", "cores", "chip-index", "failover", "O", "opt-level", "ssa",
      "timesteps"},
     {"exclusive", "replace", "upload", "progress", "no-progress"},
     RunDeploy},
    {"undeploy",
     "unload a deployment and free its cores",
     "spikectl undeploy DEPLOYMENT [--force] [--json]\n"
     "--force closes its open sessions instead of refusing.",
     {},
     {"force"},
     RunUndeploy},
    {"infer",
     "one inference from a .npy, .json or raw file",
     "spikectl infer DEPLOYMENT INPUT [--port NAME] [--format auto|npy|json|raw]\n"
     "               [--dtype u8|i8|i16|i32|f32] [--shape 1,1,8,8] [--timesteps T]\n"
     "               [--outputs scores|spikes|all] [--json]\n"
     "INPUT '-' reads stdin. Raw files need --dtype and --shape. An input with as many\n"
     "elements as the port is reshaped to the port's shape.",
     {"port", "format", "dtype", "shape", "timesteps", "outputs"},
     {},
     RunInfer},
    {"compile",
     "compile a model offline, without a daemon (runs spk-compile)",
     "spikectl compile MODEL.pt -o OUT.spkimg [--chip PROFILE] [--board PROFILE] [--max-cores N]\n"
     "                [-O 0..3] [--ssa auto|host|chip] [--input-shape 1,1,8,8] [--timesteps T]\n"
     "                [--report] [--compiler PATH] [--json]\n"
     "The compiler is --compiler, else $SPIKED_COMPILE_COMMAND, else spk-compile beside\n"
     "spikectl (or in the build tree), else on $PATH.",
     {"o", "output", "chip", "board", "max-cores", "O", "opt-level", "ssa", "input-shape",
      "timesteps", "compiler"},
     {"report"},
     RunCompile},
    {"telemetry",
     "power, temperature, energy and errors per board",
     "spikectl telemetry [--board BOARD] [--watch] [--interval 2s] [--count N] [--json]\n"
     "--watch repeats every --interval until interrupted (or --count samples); with --json\n"
     "it prints one JSON object per line.",
     {"board", "interval", "count"},
     {"watch"},
     RunTelemetry},
    {"measure",
     "N inferences: latency percentiles, energy per inference",
     "spikectl measure DEPLOYMENT INPUT [-n N] [--warmup N] [--per-layer] [--timesteps T]\n"
     "                 [--format ...] [--dtype ...] [--shape ...] [--port NAME] [--json]",
     {"n", "count", "warmup", "timesteps", "format", "dtype", "shape", "port"},
     {"per-layer"},
     RunMeasure},
    {"doctor",
     "check versions, socket, permissions and board firmware",
     "spikectl doctor [--compiler PATH] [--json]\nExit status 6 when a check fails.",
     {"compiler"},
     {},
     RunDoctor},
    {"stream",
     "stream spike events to a deployment, print outputs as they come",
     "spikectl stream DEPLOYMENT [EVENTS|-] [--steps-per-chunk K] [--steps N] [--dense]\n"
     "                [--json]\n"
     "EVENTS has one event per line: TIMESTEP INDEX (timesteps ascending); '#' starts a\n"
     "comment. The session opens first and events are sent as they are read, so a live\n"
     "source can be piped in; each output chunk is printed when it arrives (JSON Lines\n"
     "with --json).",
     {"steps-per-chunk", "steps"},
     {"dense"},
     RunStream},
};

constexpr char kGlobalUsage[] =
    "usage: spikectl [--socket PATH] [--json] [--timeout SECONDS] VERB [ARGS]\n"
    "\n"
    "Global flags (anywhere on the line):\n"
    "  --socket PATH   the daemon's socket (default: $SPIKED_SERVER_SOCKET, then the\n"
    "                  per-user and system sockets)\n"
    "  --json          machine-readable output on stdout (schemas in docs/cli.md)\n"
    "  --timeout S     client-side timeout for one reply (default 600)\n"
    "\n"
    "Exit status: 0 ok, 1 failed, 2 usage, 3 daemon unreachable, 4 not found,\n"
    "5 permission denied, 6 not ready, 7 timeout.\n"
    "\n"
    "Verbs:\n";

}  // namespace

std::span<const Verb> Verbs() { return kVerbs; }

const Verb* FindVerb(const std::string& name) {
  for (const Verb& verb : kVerbs) {
    if (name == verb.name) return &verb;
  }
  if (name == "list") return FindVerb("ls");
  return nullptr;
}

int RunSpikectl(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
                bool tty) {
  Context ctx;
  ctx.out = &out;
  ctx.err = &err;
  ctx.tty = tty;
  std::vector<std::string> rest;
  bool help = false;
  std::string timeout_text;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      rest.insert(rest.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (a == "--json") {
      ctx.json = true;
    } else if (a == "--help" || a == "-h") {
      help = true;
    } else if (a == "--socket" || a == "--timeout") {
      if (i + 1 >= argv.size()) return UsageError(ctx, "", a + " needs a value");
      (a == "--socket" ? ctx.socket : timeout_text) = argv[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      ctx.socket = a.substr(9);
    } else if (a.rfind("--timeout=", 0) == 0) {
      timeout_text = a.substr(10);
    } else {
      rest.push_back(a);
    }
  }
  if (!timeout_text.empty()) {
    Args t;
    t.values["timeout"] = timeout_text;
    auto seconds = t.Seconds("timeout");
    if (!seconds.ok() || **seconds <= 0) {
      return UsageError(ctx, "",
                        "--timeout must be a positive duration, got '" + timeout_text + "'");
    }
    ctx.timeout = std::chrono::milliseconds(static_cast<int64_t>(**seconds * 1000));
  }
  if (rest.empty() || rest[0] == "help") {
    if (rest.size() > 1) {
      if (const Verb* verb = FindVerb(rest[1])) {
        out << "usage: " << verb->usage << "\n";
        return kExitOk;
      }
    }
    out << kGlobalUsage;
    Table table({{"VERB"}, {"WHAT IT DOES"}});
    for (const Verb& verb : kVerbs) table.AddRow({std::string("  ") + verb.name, verb.summary});
    std::ostringstream text;
    table.Print(text);
    // Drop the header line: the list reads better without it.
    const std::string listed = text.str();
    out << listed.substr(listed.find('\n') + 1);
    return rest.empty() && !help ? kExitUsage : kExitOk;
  }
  const Verb* verb = FindVerb(rest[0]);
  if (verb == nullptr) {
    std::string names;
    for (const Verb& v : kVerbs) names += (names.empty() ? "" : ", ") + std::string(v.name);
    return UsageError(ctx, "", "unknown verb '" + rest[0] + "'; verbs: " + names);
  }
  if (help) {
    out << "usage: " << verb->usage << "\n";
    return kExitOk;
  }
  auto args = ParseArgs({rest.begin() + 1, rest.end()}, verb->value_flags, verb->switch_flags);
  if (!args.ok()) return UsageError(ctx, verb->name, std::string(args.status().message()));
  return verb->run(ctx, *args);
}

}  // namespace spk::spikectl
