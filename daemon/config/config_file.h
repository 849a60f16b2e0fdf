// The syntax of spiked's configuration file (docs/configuration.md, "File
// format"): `[section]` headers, `key = value` lines, `#` or `;` comments on
// their own line or after a value (preceded by a space), values optionally in
// double quotes with \" \\ \t \n escapes. Outside any section a key is
// written in full, `section.key = value`.
//
// This layer knows only the syntax; which keys exist and what their values
// mean is config.h's business.
//
// Thread safety: pure functions.
#ifndef SPK_DAEMON_CONFIG_CONFIG_FILE_H_
#define SPK_DAEMON_CONFIG_CONFIG_FILE_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace spk::daemon {

struct ConfigEntry {
  std::string section;  // "metrics"
  std::string key;      // "port"
  std::string value;    // unquoted, unescaped
  int line = 0;         // 1-based
};

// Parses the text of a configuration file; `source` (its path) starts every
// message. INVALID_ARGUMENT lists every syntax error, one per line of the
// message, as "<source>:<line>: <what>": a line that is neither a comment, a
// section nor `key = value`; an unterminated quote or section header; text
// after a closing quote; a key given twice (naming the first line).
StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text, std::string_view source);

// Quotes a value if the file syntax needs it (empty, surrounding spaces, a
// comment character, a quote or a backslash), so that ParseConfigText reads
// it back unchanged.
std::string QuoteConfigValue(std::string_view value);

}  // namespace spk::daemon

#endif  // SPK_DAEMON_CONFIG_CONFIG_FILE_H_
