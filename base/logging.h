// Logging setup on spdlog, shared by the daemon, the compiler process and the
// CLI. Components log through spdlog's default logger (spdlog::info(...));
// only the process's main decides where and how it is written.
//
// Two formats: readable text (coloured on a terminal) and JSON lines, one
// object per record with "ts", "level", "logger", "msg" and, when set, "pid",
// for log shippers and journald.
#ifndef SPK_BASE_LOGGING_H_
#define SPK_BASE_LOGGING_H_

#include <string>
#include <string_view>

#include "base/status.h"

namespace spk {

enum class LogFormat { kText, kJson };

struct LoggingOptions {
  std::string name = "spiked";  // logger name, shown in every record
  LogFormat format = LogFormat::kText;
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  bool to_stderr = true;       // otherwise stdout
};

// Parses "text" / "json"; INVALID_ARGUMENT names the bad value.
StatusOr<LogFormat> ParseLogFormat(std::string_view text);

// Replaces spdlog's default logger. INVALID_ARGUMENT for an unknown level.
// Call once from main before any threads log.
Status InitLogging(const LoggingOptions& options);

// Escapes `text` as the body of a JSON string (without the quotes).
std::string JsonEscape(std::string_view text);

}  // namespace spk

#endif  // SPK_BASE_LOGGING_H_
