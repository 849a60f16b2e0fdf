// Typed values of spiked's configuration: how each kind of value is written,
// parsed and printed back in canonical form (docs/configuration.md, "Value
// syntax"). Parsers return INVALID_ARGUMENT with a message that says what
// was expected and what was given ("must be 1..65535, got 70000"); the
// caller prefixes the source and key.
//
// Thread safety: pure functions.
#ifndef SPK_DAEMON_CONFIG_VALUES_H_
#define SPK_DAEMON_CONFIG_VALUES_H_

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace spk::daemon {

// true/false, yes/no, on/off, 1/0 (any case).
StatusOr<bool> ParseBool(std::string_view text);
std::string FormatBool(bool value);

// Decimal, within [min, max].
StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t min, uint64_t max);

// Bytes: a whole number with an optional binary unit K, M, G, T or KiB, MiB,
// GiB, TiB (all powers of 1024), within [min, max].
StatusOr<uint64_t> ParseSize(std::string_view text, uint64_t min, uint64_t max);
// The largest unit that divides exactly: "16MiB", "1000", "0".
std::string FormatSize(uint64_t bytes);

// A whole number with a unit ms, s, m or min, h, d; a bare number is
// seconds. Within [min, max].
StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text,
                                                  std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max);
// The largest unit that divides exactly: "5min", "250ms", "0".
std::string FormatDuration(std::chrono::milliseconds value);

// Octal permission bits such as 0660; must give the owner read and write.
StatusOr<uint32_t> ParseSocketMode(std::string_view text);
std::string FormatMode(uint32_t mode);  // "0660"

// A 16-bit USB id: 0x1209 or decimal.
StatusOr<uint16_t> ParseUsbId(std::string_view text);
std::string FormatUsbId(uint16_t id);  // "0x1209"

// One of `choices`, exactly.
StatusOr<std::string> ParseChoice(std::string_view text,
                                  std::initializer_list<std::string_view> choices);

// An absolute path, trailing slashes removed; at most `max_length` bytes.
StatusOr<std::string> ParseAbsolutePath(std::string_view text, size_t max_length);

// A Unix group name ([A-Za-z_][A-Za-z0-9_.-]*, at most 32 characters), or
// empty when `allow_empty`.
StatusOr<std::string> ParseGroupName(std::string_view text, bool allow_empty);

// A profile name: [a-z0-9][a-z0-9._-]*, at most 64 characters.
StatusOr<std::string> ParseProfileName(std::string_view text);

// An IPv4 or IPv6 address literal (no brackets, no host names).
StatusOr<std::string> ParseIpAddress(std::string_view text);
bool IsLoopbackAddress(std::string_view address);

// The closest of `candidates` to `word` by edit distance, ignoring case (a
// swap of two neighbours counts once), or "" when none is close enough.
std::string ClosestMatch(std::string_view word, std::span<const std::string> candidates);

}  // namespace spk::daemon

#endif  // SPK_DAEMON_CONFIG_VALUES_H_
