// compile_bench: what a deploy of a published-size Spikformer costs the
// compiler. Runs spk-compile as a child process and reads the child's wall
// time and peak RSS (wait4's rusage), for
//   - a cold compile (--no-cache) of Spikformer-4-384 and -8-384 (random
//     weights, published sizes) and of the trained digits Spikformer,
//   - a cache hit (the same compile against a warm --cache-dir) of those
//     that compile,
// and the peer, measured in the same run: LibTorch alone loading the same
// archive (torch::jit::load) and running one forward (torch_load_peer).
//
//   compile_bench [--runs N] [--models a,b] [--keep DIR]
//
// Each number is the best of N runs (default 1; cache hits at least 5);
// peak RSS is the largest seen. Compile failures print the child's stderr and exit 1.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

struct Run {
  bool ok = false;
  int exit_code = -1;  // -1: killed or not started
  double seconds = 0;
  double cpu_seconds = 0;  // the child's user + system time: less skewed by load
  double peak_mb = 0;      // the child's ru_maxrss
  std::string log;         // stderr + stdout, for failures
};

Run Spawn(const std::vector<std::string>& args, const fs::path& log_path) {
  Run run;
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) return run;
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
  run.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.ok = run.exit_code == 0;
  std::ifstream in(log_path);
  run.log.assign(std::istreambuf_iterator<char>(in), {});
  return run;
}

// Best time and largest peak over `runs`; nullopt (after printing why) on
// the first failure. With `model_error_ok`, exit code 1 (the model cannot be
// compiled: the compiler worked and said why) counts as a run.
std::optional<Run> Best(int runs, const std::vector<std::string>& args, const fs::path& log,
                        bool model_error_ok = false) {
  Run best;
  for (int i = 0; i < runs; ++i) {
    Run r = Spawn(args, log);
    if (!r.ok && !(model_error_ok && r.exit_code == 1)) {
      std::cerr << "compile_bench: failed:";
      for (const auto& a : args) std::cerr << " " << a;
      std::cerr << "\n" << r.log << "\n";
      return std::nullopt;
    }
    if (i == 0 || r.seconds < best.seconds) best.seconds = r.seconds;
    if (i == 0 || r.cpu_seconds < best.cpu_seconds) best.cpu_seconds = r.cpu_seconds;
    best.peak_mb = std::max(best.peak_mb, r.peak_mb);
    best.ok = r.ok;
    best.exit_code = r.exit_code;
    best.log = r.log;
  }
  return best;
}

// The --time-report lines of a log, and how many diagnostics were errors.
std::string TimeLines(const std::string& log, int* errors) {
  std::string out;
  std::istringstream in(log);
  *errors = 0;
  std::string first_error;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("time: ", 0) == 0 || line.rfind("cache: ", 0) == 0) out += "  " + line + "\n";
    if (line.find(": error: ") != std::string::npos && (*errors)++ == 0) first_error = line;
  }
  if (*errors > 0)
    out += "  first of " + std::to_string(*errors) + " errors: " + first_error + "\n";
  return out;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

struct Row {
  std::string model, what;
  Run run;
  std::string target;
  bool meets = true;
  double peer_seconds = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 1;
  std::vector<std::string> models = {"spikformer_digits", "spikformer_4_384_cifar",
                                     "spikformer_8_384_imagenet"};
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--models" && i + 1 < argc) {
      models.clear();
      std::stringstream ss(argv[++i]);
      for (std::string m; std::getline(ss, m, ',');) models.push_back(m);
    } else if (a == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      std::cerr << "usage: compile_bench [--runs N] [--models a,b] [--keep DIR]\n";
      return 2;
    }
  }
  const fs::path fixtures = fs::path(SPK_FIXTURE_DIR) / "models";
  const fs::path work =
      keep.empty() ? fs::temp_directory_path() / ("compile_bench." + std::to_string(getpid()))
                   : fs::path(keep);
  fs::create_directories(work);
  // The benchmark's board profile, ahead of the installed ones.
  const char* profiles = std::getenv("SPK_PROFILE_DIR");
  const std::string dirs = std::string(SPK_BENCH_PROFILE_DIR) +
                           (profiles != nullptr && *profiles ? ":" + std::string(profiles) : "");
  setenv("SPK_PROFILE_DIR", dirs.c_str(), 1);

  std::cout << "compile_bench: " << runs << " run(s) each, best time, largest peak RSS\n"
            << "cpu: " << CpuModel() << ", " << sysconf(_SC_NPROCESSORS_ONLN) << " online\n"
            << "load average before: " << LoadAverage() << "\n";

  std::vector<Row> rows;
  for (const std::string& name : models) {
    std::ifstream meta_in(fixtures / (name + ".json"));
    if (!meta_in) {
      std::cerr << "compile_bench: no fixture " << (fixtures / (name + ".json"))
                << " (build target spk_fixtures)\n";
      return 1;
    }
    const auto meta = nlohmann::json::parse(meta_in);
    std::string shape;
    for (int64_t d : meta["input_shape"].get<std::vector<int64_t>>()) {
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    }
    const std::string model = (fixtures / meta["file"].get<std::string>()).string();
    const std::string out = (work / (name + ".spkimg")).string();
    const std::string cache = (work / "cache").string();
    const fs::path log = work / (name + ".log");
    // The published sizes need more than one chip: the benchmark's own
    // board profiles (profiles/): twelve Kapoho Points (96 Loihi 2 chips)
    // for the CIFAR size, Hala Point (1,152) for the ImageNet size.
    const bool published = name.find("_384_") != std::string::npos;
    const bool big = name.find("8_384") != std::string::npos;
    std::vector<std::string> common = {"--input-shape", shape, "--no-progress", "--time-report"};
    if (published) {
      common.push_back("--board");
      common.push_back(big ? "hala-point" : "kapoho-stack-12");
    }
    auto with = [&](std::vector<std::string> args) {
      args.insert(args.end(), common.begin(), common.end());
      return args;
    };

    auto peer = Best(runs, {SPK_TORCH_PEER_EXE, model, shape}, log);
    if (!peer) return 1;
    auto cold = Best(runs, with({SPK_COMPILE_EXE, model, "-o", out, "--no-cache"}), log, true);
    if (!cold) return 1;
    int errors = 0;
    const std::string times = TimeLines(cold->log, &errors);
    std::cout << "\n"
              << name << ": last cold run (" << (cold->ok ? "image written" : "no image") << "):\n"
              << times;

    const double cold_target = big ? 30.0 : 5.0;
    Row c{name,
          cold->ok ? "cold compile" : "cold compile: exit 1, " + std::to_string(errors) + " errors",
          *cold,
          published ? "<= " + Fixed(cold_target, 0) + " s" + (big ? ", <= 4096 MB" : "") : "",
          cold->ok && cold->seconds <= cold_target && (!big || cold->peak_mb <= 4096),
          peer->seconds};
    rows.push_back(c);
    if (cold->ok) {
      // Warm the cache (a miss that stores), then time hits.
      fs::remove_all(cache);
      const auto cached = with({SPK_COMPILE_EXE, model, "-o", out, "--cache-dir", cache});
      if (!Best(1, cached, log)) return 1;
      auto hit = Best(std::max(runs, 5), cached, log);
      if (!hit) return 1;
      if (hit->log.find("cache: hit") == std::string::npos) {
        std::cerr << "compile_bench: the second compile was not a cache hit:\n" << hit->log;
        return 1;
      }
      rows.push_back({name, "cache hit", *hit, "<= 0.100 s", hit->seconds <= 0.1, peer->seconds});
    }
    rows.push_back({name, "peer: torch::jit::load + forward", *peer, "", true, peer->seconds});
  }

  std::cout << "\n| model | what | wall s | cpu s | peak RSS MB | target | meets | wall / peer |\n"
            << "|---|---|---:|---:|---:|---|---|---:|\n";
  for (const Row& r : rows) {
    std::cout << "| " << r.model << " | " << r.what << " | " << Fixed(r.run.seconds, 3) << " | "
              << Fixed(r.run.cpu_seconds, 3) << " | " << Fixed(r.run.peak_mb, 0) << " | "
              << (r.target.empty() ? "-" : r.target) << " | "
              << (r.target.empty() ? "-" : (r.meets ? "yes" : "NO")) << " | "
              << Fixed(r.run.seconds / r.peer_seconds, 2) << "x |\n";
  }
  std::cout << "\nload average after: " << LoadAverage() << "\n";
  if (keep.empty()) fs::remove_all(work);
  return 0;
}
