#include "compiler/driver/cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "base/sha256.h"
#include "compiler/cache/artifact_cache.h"
#include "hal/format/board_image_io.h"
#include "hal/format/chip_profile.h"

namespace spk::compiler::driver {
namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Every option that can change the image, in a fixed order.
std::string OptionsKeyText(const CompileOptions& o) {
  std::ostringstream s;
  s << "chip=" << o.chip << "\nboard=" << o.board << "\nmax_cores=" << o.max_cores
    << "\nO=" << o.opt_level << "\ninput_shape=";
  for (int64_t d : o.input_shape) s << d << ",";
  s << "\ntimesteps=" << (o.timesteps ? std::to_string(*o.timesteps) : "model")
    << "\nactivity=" << o.assumed_activity << "\n";
  // Only when set, so that the keys of every compile made before it stay.
  if (o.probe_neurons) s << "probe_neurons=1\n";
  if (o.ssa != "auto") s << "ssa=" << o.ssa << "\n";
  return s.str();
}

// The text of the profiles LoadChipProfile/LoadBoardProfile would read, so
// that editing a profile invalidates the entries compiled against it.
std::string ProfilesKeyText(const CompileOptions& o) {
  auto first = [](const std::string& file) -> std::string {
    for (const std::string& dir : hal::format::ProfileSearchPath()) {
      const std::string path = dir + "/" + file;
      if (std::filesystem::exists(path)) return path + "\n" + ReadText(path);
    }
    return file + " (not found)";
  };
  std::string text = first("chip-" + o.chip + ".json");
  if (!o.board.empty()) text += "\n" + first("board-" + o.board + ".json");
  return text;
}

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return path + ":absent";
  return path + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

// The compiler's identity: the inode, size and modification time of this
// executable and of the LibTorch stage beside it. Hashing them would cost
// more than a whole cache hit, and any rebuild changes these.
std::string CompilerIdentity() {
  return FileIdentity(SiblingExecutable("spk-compile")) + "\n" +
         FileIdentity(SiblingExecutable("spk-compile-torch"));
}

bool IsHexKey(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Hashing a 70 MB model takes longer than the rest of a cache hit, so its
// SHA-256 is remembered in <cache>/digests/, named by the file's identity:
// path, device, inode, size, and modification and change times to the
// nanosecond. Any write changes the change time, which nobody can set back.
std::optional<std::string> DigestMemoPath(const std::string& cache_dir, const std::string& model,
                                          bool for_writing) {
  struct stat st {};
  if (::stat(model.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  // A file modified within the last second may be modified again within
  // the timestamps' granularity; it is not memoised.
  if (for_writing && st.st_mtim.tv_sec + 1 >= ::time(nullptr)) return std::nullopt;
  std::error_code ec;
  const std::string real = std::filesystem::weakly_canonical(model, ec).string();
  const std::string identity =
      real + "\n" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
      std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
      std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ctim.tv_sec) + "." +
      std::to_string(st.st_ctim.tv_nsec);
  return (std::filesystem::path(cache_dir) / "digests" / spk::Sha256Hex(identity)).string();
}

std::optional<std::string> MemoisedDigest(const std::string& cache_dir, const std::string& model) {
  auto path = DigestMemoPath(cache_dir, model, false);
  if (!path) return std::nullopt;
  std::string digest = ReadText(*path);
  if (!IsHexKey(digest)) return std::nullopt;
  return digest;
}

void MemoiseDigest(const std::string& cache_dir, const std::string& model,
                   const std::string& digest) {
  auto path = DigestMemoPath(cache_dir, model, true);
  if (!path) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(*path).parent_path(), ec);
  // Unique temporary name, then rename: racing writers write the same text.
  const std::string tmp = *path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  if (WriteText(tmp, digest)) std::filesystem::rename(tmp, *path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", s);
  return buf;
}

}  // namespace

std::string CompileUsage() {
  return "usage: spk-compile MODEL -o OUT.spkimg [--chip NAME] [--board NAME] [--max-cores N]\n"
         "                   [-O0|-O1|-O2|-O3] [--input-shape 1,1,8,8] [--timesteps T]\n"
         "                   [--report] [--report-json FILE] [--emit-ir input|optimized]\n"
         "                   [--progress|--no-progress] [--cache-dir DIR] [--no-cache]\n"
         "                   [--time-report] [--probe-neurons] [--ssa auto|host|chip]\n"
         "\n"
         "Compiles a TorchScript model (.pt) or spike IR text (frontend or lowered) into a\n"
         "board image. Diagnostics go to stderr as file:line:col: error: ...\n"
         "--cache-dir keeps compiled images (and their reports) in a content-addressed\n"
         "cache there and reuses them; --no-cache turns that off. --time-report prints\n"
         "the wall time of every stage and pass to stderr. --probe-neurons makes every\n"
         "LIF/IF layer's spikes an output (probe:<module path>) for layer-by-layer checks.\n"
         "--ssa chooses where spike matmuls (Spikformer attention) run: auto (default) on\n"
         "the chip as and2 layers when they fit the board, else on the host; host or chip\n"
         "force it (chip fails, naming the layer, when the expansion does not fit).\n"
         "Exit status: 0 success, 1 the model cannot be compiled, 2 bad usage, unreadable\n"
         "or unwritable files or unknown profiles, 3 internal error.\n";
}

int RunCompileCli(std::span<const std::string> args, const Importer& importer, std::ostream& out,
                  std::ostream& err, bool progress) {
  CompileOptions options;
  std::string model, output, report_json, cache_dir, given_key;
  bool report = false, no_cache = false, time_report = false;
  const auto started = std::chrono::steady_clock::now();
  auto usage = [&](const std::string& why) {
    err << "spk-compile: " << why << "\n" << CompileUsage();
    return kExitUsage;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      out << CompileUsage();
      return kExitOk;
    } else if (a == "-o" || a == "--chip" || a == "--board" || a == "--max-cores" ||
               a == "--input-shape" || a == "--timesteps" || a == "--report-json" ||
               a == "--emit-ir" || a == "--cache-dir" || a == "--cache-key" || a == "--ssa") {
      auto v = value();
      if (!v) return usage(a + " needs a value");
      if (a == "-o") {
        output = *v;
      } else if (a == "--chip") {
        options.chip = *v;
      } else if (a == "--board") {
        options.board = *v;
      } else if (a == "--report-json") {
        report_json = *v;
      } else if (a == "--ssa") {
        if (!CheckSsaMode(*v).ok())
          return usage("--ssa takes auto, host or chip, got '" + *v + "'");
        options.ssa = *v;
      } else if (a == "--cache-dir") {
        if (v->empty()) return usage("--cache-dir needs a directory");
        cache_dir = *v;
      } else if (a == "--cache-key") {
        // Internal: spk-compile hands its key (and its miss) to spk-compile-torch.
        if (!IsHexKey(*v)) return usage("--cache-key needs 64 lower-case hex digits");
        given_key = *v;
      } else if (a == "--emit-ir") {
        if (*v != "input" && *v != "optimized" && *v != "lowered") {
          return usage("--emit-ir takes input or optimized, got '" + *v + "'");
        }
        options.emit_ir = *v;
      } else if (a == "--max-cores") {
        auto n = ParseInt(*v);
        if (!n || *n < 1 || *n > (int64_t{1} << 31)) return usage("--max-cores needs a count >= 1");
        options.max_cores = static_cast<uint32_t>(*n);
      } else if (a == "--timesteps") {
        auto n = ParseInt(*v);
        if (!n || *n < 1 || *n > 1048576) return usage("--timesteps needs 1..1048576");
        options.timesteps = *n;
      } else {  // --input-shape
        std::string_view rest = *v;
        while (!rest.empty()) {
          const size_t comma = rest.find(',');
          auto n = ParseInt(rest.substr(0, comma));
          if (!n || *n < 1) return usage("--input-shape needs positive dims like 1,1,8,8");
          options.input_shape.push_back(*n);
          rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
        }
      }
    } else if (a.size() == 3 && a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3') {
      options.opt_level = a[2] - '0';
    } else if (a == "--report") {
      report = true;
    } else if (a == "--progress") {
      progress = true;
    } else if (a == "--no-progress") {
      progress = false;
    } else if (a == "--no-cache") {
      no_cache = true;
    } else if (a == "--time-report") {
      time_report = true;
    } else if (a == "--probe-neurons") {
      options.probe_neurons = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return usage("unknown option '" + a + "'");
    } else if (model.empty()) {
      model = a;
    } else {
      return usage("more than one model given ('" + model + "', '" + a + "')");
    }
  }
  if (model.empty()) return usage("no model given");
  if (output.empty()) return usage("no output given (-o OUT.spkimg)");

  // The model is read lazily: a cache hit whose digest is memoised never reads it.
  std::vector<uint8_t> bytes;
  bool have_bytes = false;
  auto read_model = [&]() -> bool {
    if (have_bytes) return true;
    std::ifstream in(model, std::ios::binary);
    if (!in) return false;
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    in.seekg(0, std::ios::beg);
    bytes.assign(size > 0 ? static_cast<size_t>(size) : 0, 0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) return false;
    have_bytes = true;
    return true;
  };
  std::error_code regular_ec;
  const bool regular = std::filesystem::is_regular_file(model, regular_ec);
  if ((!regular || ::access(model.c_str(), R_OK) != 0) && !read_model()) {
    err << "spk-compile: cannot read '" << model << "'\n";
    return kExitUsage;
  }

  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  auto note = [&](const std::string& line) {
    if (progress || time_report) err << line << "\n";
  };
  auto write_reports = [&](const std::string& text, const std::string& json) {
    if (report) out << text;
    if (!report_json.empty() && !WriteText(report_json, json + "\n")) {
      err << "spk-compile: cannot write '" << report_json << "'\n";
      return kExitUsage;
    }
    return kExitOk;
  };

  // The cache is skipped when the caller asked for IR text, which entries
  // do not keep. A cache that cannot be opened costs a warning, not the compile.
  std::unique_ptr<cache::ArtifactCache> artifacts;
  std::string key;
  if (!cache_dir.empty() && !no_cache && options.emit_ir.empty()) {
    auto opened = cache::ArtifactCache::Open({cache_dir});
    if (opened.ok()) {
      artifacts = std::move(opened).value();
      if (given_key.empty()) {
        std::optional<std::string> digest = MemoisedDigest(cache_dir, model);
        if (!digest) {
          if (!read_model()) {
            err << "spk-compile: cannot read '" << model << "'\n";
            return kExitUsage;
          }
          digest = spk::Sha256Hex(bytes);
          MemoiseDigest(cache_dir, model, *digest);
        }
        key = cache::ArtifactCache::Key(
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(digest->data()),
                                     digest->size()),
            OptionsKeyText(options), ProfilesKeyText(options), CompilerIdentity());
      } else {
        key = given_key;
      }
    } else {
      err << "spk-compile: warning: compiling without the cache: " << opened.status().ToString()
          << "\n";
    }
  }
  if (artifacts && given_key.empty()) {
    // The entry is checksummed in place, not decoded again, and placed by
    // a clone or a hard link where the file system allows: a hit costs
    // about one pass over the bytes, not a read and a write of them.
    auto image = artifacts->LookupFile(key);
    if (image.ok()) {
      auto text = artifacts->LookupAttachment(key, "report_txt");
      auto json = artifacts->LookupAttachment(key, "report_json");
      if (text.ok() && json.ok()) {
        const Status written = hal::format::PlaceBoardImageFile(*image, output, true);
        if (!written.ok()) {
          err << "spk-compile: " << written.ToString() << "\n";
          return kExitUsage;
        }
        note("cache: hit " + key);
        if (time_report) err << "time: total " << Seconds(elapsed()) << " s\n";
        return write_reports(*text, *json);
      }
      // An image without its reports is as damaged as a bad image.
      artifacts->Drop(key);
      note("cache: entry " + key + " has damaged or missing reports; compiling again");
    } else if (image.status().message().find("corrupt") != std::string_view::npos) {
      note("cache: " + std::string(image.status().message()) + "; compiling again");
    } else {
      note("cache: miss " + key);
    }
  }

  if (!read_model()) {
    err << "spk-compile: cannot read '" << model << "'\n";
    return kExitUsage;
  }
  ir::DiagnosticEngine diags;
  diags.set_handler([&](const ir::Diagnostic& d) { err << ir::FormatDiagnostic(d) << "\n"; });
  int stage = 0;
  auto say = [&](const std::string& line) {
    if (progress) err << "[" << ++stage << "] " << line << "\n";
  };
  options.cache_key = key;
  std::vector<StageTime> timings;
  std::string failed_ir;
  auto result = CompileModel(bytes, model, options, importer, diags, say, &timings, &failed_ir);
  auto print_times = [&] {
    if (!time_report) return;
    for (const StageTime& t : timings) {
      err << "time: " << t.stage << " " << Seconds(t.seconds) << " s\n";
    }
    err << "time: total " << Seconds(elapsed()) << " s\n";
  };
  if (!result.ok()) {
    out << failed_ir;
    print_times();
    // Diagnostics are already printed; repeat the summary only when they
    // did not explain the failure.
    if (!diags.has_errors())
      err << "spk-compile: " << result.status().ToString() << "\n";
    else
      err << "spk-compile: " << model << ": " << diags.error_count() << " error(s)\n";
    return ExitCodeFor(result.status());
  }
  if (!result->emitted_ir.empty()) out << result->emitted_ir;
  const auto write_start = std::chrono::steady_clock::now();
  const Status written = hal::format::WriteBoardImageFile(result->image, output);
  if (!written.ok()) {
    err << "spk-compile: " << written.ToString() << "\n";
    return written.code() == StatusCode::kInvalidArgument ? kExitInternal : kExitUsage;
  }
  if (artifacts) {
    // Reports first: a reader that finds the image finds them too.
    Status stored = artifacts->InsertAttachment(key, "report_txt", result->report_text);
    if (stored.ok()) stored = artifacts->InsertAttachment(key, "report_json", result->report_json);
    if (stored.ok()) stored = artifacts->InsertFile(key, output);
    if (stored.ok()) {
      note("cache: stored " + key);
    } else {
      err << "spk-compile: warning: not cached: " << stored.ToString() << "\n";
    }
  }
  timings.push_back(
      {"write image",
       std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count()});
  print_times();
  return write_reports(result->report_text, result->report_json);
}

}  // namespace spk::compiler::driver
