// spikectl deploy: compile (or take from the cache) and load a model. The
// daemon opens the file itself (it checks that the caller may read it);
// --upload sends the bytes instead. Progress goes to stderr on a terminal.
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cli/spikectl/input.h"
#include "cli/spikectl/output.h"
#include "cli/spikectl/report.h"
#include "cli/spikectl/verbs.h"

namespace spk::spikectl {
namespace {

// One status line on a terminal, rewritten in place: the daemon's latest
// PROGRESS (stage, pass, fraction) and the time so far. A ticker thread
// keeps the time moving while the call blocks, since the daemon sends one
// PROGRESS per stage and the compile stage may last minutes.
class ProgressLine {
 public:
  ProgressLine(std::ostream& err, std::string what) : err_(err), what_(std::move(what)) {}
  ~ProgressLine() { Stop(); }

  void Start() {
    start_ = std::chrono::steady_clock::now();
    ticker_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stopping_) {
        Draw();
        wake_.wait_for(lock, std::chrono::milliseconds(200));
      }
    });
  }
  void Update(const nlohmann::json& p) {
    std::lock_guard lock(mu_);
    stage_ = Field(p, "stage");
    if (p.contains("pass")) stage_ += ": " + Field(p, "pass");
    if (p.contains("fraction") && p["fraction"].is_number()) {
      stage_ += " " + FormatFixed(100 * p["fraction"].get<double>(), 0) + "%";
    }
    Draw();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (!ticker_.joinable()) return;  // never started: nothing was drawn
    ticker_.join();
    err_ << "\r\033[K" << std::flush;
  }

 private:
  // Called with mu_ held.
  void Draw() {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string line = "deploying " + what_ + ": " + stage_ + "  " + FormatFixed(seconds, 1) + " s";
    if (line.size() > 78) line.resize(78);
    err_ << "\r\033[K" << line << std::flush;
  }

  std::ostream& err_;
  const std::string what_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string stage_ = "compiling and loading";  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  std::chrono::steady_clock::time_point start_;
  std::thread ticker_;
};

}  // namespace

int RunDeploy(Context& ctx, const Args& args) {
  if (args.positional.size() != 1) return UsageError(ctx, "deploy", "needs one MODEL file");
  protocol::DeployRequest request;
  std::error_code ec;
  const std::filesystem::path model = std::filesystem::absolute(args.positional[0], ec);
  if (ec || !std::filesystem::is_regular_file(model, ec)) {
    return Fail(ctx, "deploy",
                NotFoundError("model file " + args.positional[0] + " does not exist"));
  }
  request.model.path = model.lexically_normal().string();
  request.name = args.Value("name").value_or("");
  request.board = args.Value("board").value_or("");
  request.chip_profile = args.Value("chip").value_or("");
  request.replace = args.Has("replace");
  request.partition.exclusive = args.Has("exclusive");
  auto cores = args.Uint("cores", 0, 1u << 20);
  auto chip_index = args.Uint("chip-index", 0, 1u << 20);
  auto opt = args.Value("O") ? args.Uint("O", 0, 3) : args.Uint("opt-level", 0, 3);
  auto timesteps = args.Uint("timesteps", 0, 1000000);
  for (const auto* v : {&cores, &chip_index, &opt, &timesteps}) {
    if (!v->ok()) return UsageError(ctx, "deploy", std::string(v->status().message()));
  }
  if (*cores) request.partition.cores = static_cast<uint32_t>(**cores);
  if (*chip_index) request.partition.chip = static_cast<uint32_t>(**chip_index);
  if (*opt) request.opt_level = static_cast<uint32_t>(**opt);
  if (*timesteps) request.timesteps = static_cast<uint32_t>(**timesteps);
  request.ssa = args.Value("ssa").value_or("auto");
  if (request.ssa != "auto" && request.ssa != "host" && request.ssa != "chip") {
    return UsageError(ctx, "deploy", "--ssa takes auto, host or chip, got '" + request.ssa + "'");
  }
  const std::string failover = args.Value("failover").value_or("none");
  if (failover == "emulator") {
    request.failover = protocol::FailoverPolicy::kEmulator;
  } else if (failover != "none") {
    return UsageError(ctx, "deploy", "--failover takes none or emulator, got '" + failover + "'");
  }
  request.progress = args.Has("progress") || (ctx.tty && !ctx.json && !args.Has("no-progress"));

  std::vector<uint8_t> bytes;
  if (args.Has("upload")) {
    auto read = ReadFileBytes(request.model.path);
    if (!read.ok()) return Fail(ctx, "deploy", read.status());
    bytes = std::move(read).value();
    request.model.filename = model.filename().string();
  }

  auto connection = ctx.Connect();
  if (!connection.ok()) return Fail(ctx, "deploy", connection.status());
  const bool live = ctx.tty && !ctx.json && !args.Has("no-progress");
  ProgressLine progress(*ctx.err, model.filename().string());
  if (live) progress.Start();
  auto deployed = (*connection)->Deploy(request, bytes, [&](const nlohmann::json& p) {
    if (live) {
      progress.Update(p);
    } else {
      // Not a terminal: one plain line per update keeps logs readable.
      *ctx.err << "deploy: " << Field(p, "stage");
      if (p.contains("pass")) *ctx.err << " " << Field(p, "pass");
      if (p.contains("message")) *ctx.err << ": " << Field(p, "message");
      if (p.contains("elapsed_seconds") && p["elapsed_seconds"].is_number()) {
        *ctx.err << " (" << FormatFixed(p["elapsed_seconds"].get<double>(), 2) << " s)";
      }
      *ctx.err << "\n";
    }
  });
  if (live) progress.Stop();
  if (!deployed.ok()) {
    return Fail(ctx, "deploy", deployed.status(), (*connection)->last_error_details());
  }
  if (ctx.json) {
    PrintJson(*ctx.out, *deployed);
    return kExitOk;
  }
  const nlohmann::json& d = *deployed;
  std::ostream& out = *ctx.out;
  out << "deployed " << model.filename().string() << " on " << Field(d, "board") << " ("
      << Field(d, "chip_profile") << ")\n";
  KeyValues kv;
  const auto partition = d.value("partition", nlohmann::json::object());
  const auto core_list = partition.value("cores", nlohmann::json::array());
  kv.Add("cores", std::to_string(core_list.size()) + " (" + CoreRanges(core_list) + ")");
  std::string cache = Field(d, "cache");
  if (d.contains("compile_seconds") && d["compile_seconds"].is_number() && cache != "hit") {
    cache += ", compiled in " + FormatSeconds(d["compile_seconds"].get<double>());
  }
  kv.Add("cache", cache);
  kv.Add("timesteps", Field(d, "timesteps"));
  kv.Add("model sha256", Field(d, "model_sha256"));
  kv.Print(out, "  ");
  if (d.contains("report")) {
    out << "\n";
    PrintReport(out, d["report"]);
  }
  out << "\n";
  PrintPorts(out, d);
  out << "\ndeployment id: " << Field(d, "deployment") << "\n";
  return kExitOk;
}

}  // namespace spk::spikectl
