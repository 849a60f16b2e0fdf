#include "compiler/driver/cli.h"

#include <charconv>
#include <fstream>
#include <optional>
#include <vector>

#include "hal/format/board_image_io.h"

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

}  // namespace

std::string CompileUsage() {
  return "usage: spk-compile MODEL -o OUT.spkimg [--chip NAME] [--board NAME] [--max-cores N]\n"
         "                   [-O0|-O1|-O2|-O3] [--input-shape 1,1,8,8] [--timesteps T]\n"
         "                   [--report] [--report-json FILE] [--emit-ir input|optimized]\n"
         "                   [--progress|--no-progress]\n"
         "\n"
         "Compiles a TorchScript model (.pt) or spike IR text (frontend or lowered) into a\n"
         "board image. Diagnostics go to stderr as file:line:col: error: ...\n"
         "Exit status: 0 success, 1 the model cannot be compiled, 2 bad usage, unreadable\n"
         "or unwritable files or unknown profiles, 3 internal error.\n";
}

int RunCompileCli(std::span<const std::string> args, const Importer& importer, std::ostream& out,
                  std::ostream& err, bool progress) {
  CompileOptions options;
  std::string model, output, report_json;
  bool report = false;
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
               a == "--emit-ir") {
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

  std::ifstream in(model, std::ios::binary);
  if (!in) {
    err << "spk-compile: cannot read '" << model << "'\n";
    return kExitUsage;
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(size > 0 ? static_cast<size_t>(size) : 0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    err << "spk-compile: cannot read '" << model << "'\n";
    return kExitUsage;
  }

  ir::DiagnosticEngine diags;
  diags.set_handler([&](const ir::Diagnostic& d) { err << ir::FormatDiagnostic(d) << "\n"; });
  int stage = 0;
  auto say = [&](const std::string& line) {
    if (progress) err << "[" << ++stage << "] " << line << "\n";
  };
  auto result = CompileModel(bytes, model, options, importer, diags, say);
  if (!result.ok()) {
    // Diagnostics are already printed; repeat the summary only when they
    // did not explain the failure.
    if (!diags.has_errors())
      err << "spk-compile: " << result.status().ToString() << "\n";
    else
      err << "spk-compile: " << model << ": " << diags.error_count() << " error(s)\n";
    return ExitCodeFor(result.status());
  }
  if (!result->emitted_ir.empty()) out << result->emitted_ir;
  const Status written = hal::format::WriteBoardImageFile(result->image, output);
  if (!written.ok()) {
    err << "spk-compile: " << written.ToString() << "\n";
    return written.code() == StatusCode::kInvalidArgument ? kExitInternal : kExitUsage;
  }
  if (report) out << result->report_text;
  if (!report_json.empty() && !WriteText(report_json, result->report_json + "\n")) {
    err << "spk-compile: cannot write '" << report_json << "'\n";
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace spk::compiler::driver
