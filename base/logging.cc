#include "base/logging.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace spk {
namespace {

// One JSON object per record. spdlog's pattern syntax cannot escape the
// message, so this is a formatter of its own.
class JsonLinesFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto since_epoch = msg.time.time_since_epoch();
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
    std::string line = "{\"ts\":";
    line += std::to_string(micros / 1000000);
    line += '.';
    std::string frac = std::to_string(micros % 1000000);
    line.append(6 - frac.size(), '0');
    line += frac;
    line += ",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"logger\":\"";
    line += JsonEscape(std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    line += "\",\"pid\":";
    line += std::to_string(pid_);
    line += ",\"msg\":\"";
    line += JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    line += "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLinesFormatter>();
  }

 private:
  long pid_ = static_cast<long>(::getpid());
};

}  // namespace

StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return InvalidArgumentError("log format must be 'text' or 'json', got '" + std::string(text) +
                              "'");
}

Status InitLogging(const LoggingOptions& options) {
  auto level = spdlog::level::from_str(options.level);
  // from_str maps anything unknown to off; only "off" itself may mean off.
  if (level == spdlog::level::off && options.level != "off") {
    return InvalidArgumentError(
        "log level must be one of trace, debug, info, warn, error, "
        "critical, off; got '" +
        options.level + "'");
  }
  spdlog::sink_ptr sink;
  if (options.to_stderr) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  }
  // Not registered by name, so InitLogging may run again (tests, SIGHUP).
  auto logger = std::make_shared<spdlog::logger>(options.name, std::move(sink));
  if (options.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonLinesFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %n: %v");
  }
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace spk
