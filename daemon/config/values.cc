#include "daemon/config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <vector>

namespace spk::daemon {
namespace {

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "16MiB" into 16 and "MiB". False when there are no leading digits
// or the number does not fit in 64 bits.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* unit) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, *number);
  if (ec != std::errc() || end != text.data() + digits) return false;
  *unit = text.substr(digits);
  return true;
}

struct Unit {
  std::string_view name;
  uint64_t factor;
};

}  // namespace

StatusOr<bool> ParseBool(std::string_view text) {
  const std::string value = Lower(text);
  if (value == "true" || value == "yes" || value == "on" || value == "1") return true;
  if (value == "false" || value == "no" || value == "off" || value == "0") return false;
  return InvalidArgumentError("must be true or false, got " + Quoted(text));
}

std::string FormatBool(bool value) { return value ? "true" : "false"; }

StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t min, uint64_t max) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  uint64_t value = 0;
  std::string_view rest;
  if (!SplitNumber(text, &value, &rest) || !rest.empty()) {
    return InvalidArgumentError("must be a whole number in " + range + ", got " + Quoted(text));
  }
  if (value < min || value > max) {
    return InvalidArgumentError("must be " + range + ", got " + std::string(text));
  }
  return value;
}

StatusOr<uint64_t> ParseSize(std::string_view text, uint64_t min, uint64_t max) {
  static constexpr std::array<Unit, 9> kUnits = {{{"", 1},
                                                  {"K", 1ull << 10},
                                                  {"KiB", 1ull << 10},
                                                  {"M", 1ull << 20},
                                                  {"MiB", 1ull << 20},
                                                  {"G", 1ull << 30},
                                                  {"GiB", 1ull << 30},
                                                  {"T", 1ull << 40},
                                                  {"TiB", 1ull << 40}}};
  const std::string range = FormatSize(min) + ".." + FormatSize(max);
  uint64_t number = 0;
  std::string_view unit;
  const Unit* found = nullptr;
  if (SplitNumber(text, &number, &unit)) {
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
  }
  if (found == nullptr) {
    return InvalidArgumentError(
        "must be a size like 512MiB or 2G (units K, M, G, T or KiB, "
        "MiB, GiB, TiB), got " +
        Quoted(text));
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(number, found->factor, &bytes) || bytes < min || bytes > max) {
    return InvalidArgumentError("must be " + range + ", got " + std::string(text));
  }
  return bytes;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::array<Unit, 4> kUnits = {
      {{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}}};
  if (bytes == 0) return "0";
  for (const Unit& unit : kUnits) {
    if (bytes % unit.factor == 0)
      return std::to_string(bytes / unit.factor) + std::string(unit.name);
  }
  return std::to_string(bytes);
}

StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text,
                                                  std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max) {
  static constexpr std::array<Unit, 7> kUnits = {{{"ms", 1},
                                                  {"", 1000},
                                                  {"s", 1000},
                                                  {"m", 60'000},
                                                  {"min", 60'000},
                                                  {"h", 3'600'000},
                                                  {"d", 86'400'000}}};
  const std::string range = FormatDuration(min) + ".." + FormatDuration(max);
  uint64_t number = 0;
  std::string_view unit;
  const Unit* found = nullptr;
  if (SplitNumber(text, &number, &unit)) {
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
  }
  if (found == nullptr) {
    return InvalidArgumentError(
        "must be a duration like 250ms, 30s, 5min, 2h or 7d (a bare number is seconds), got " +
        Quoted(text));
  }
  uint64_t ms = 0;
  if (__builtin_mul_overflow(number, found->factor, &ms) ||
      ms > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      static_cast<int64_t>(ms) < min.count() || static_cast<int64_t>(ms) > max.count()) {
    return InvalidArgumentError("must be " + range + ", got " + std::string(text));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::string FormatDuration(std::chrono::milliseconds value) {
  static constexpr std::array<Unit, 4> kUnits = {
      {{"d", 86'400'000}, {"h", 3'600'000}, {"min", 60'000}, {"s", 1000}}};
  const int64_t ms = value.count();
  if (ms == 0) return "0";
  for (const Unit& unit : kUnits) {
    const auto factor = static_cast<int64_t>(unit.factor);
    if (ms % factor == 0) return std::to_string(ms / factor) + std::string(unit.name);
  }
  return std::to_string(ms) + "ms";
}

StatusOr<uint32_t> ParseSocketMode(std::string_view text) {
  const bool octal =
      !text.empty() && text.size() <= 4 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
  uint32_t mode = 0;
  if (octal) std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (!octal || mode > 0777) {
    return InvalidArgumentError("must be octal permission bits 0000..0777 such as 0660, got " +
                                Quoted(text));
  }
  if ((mode & 0600) != 0600) {
    return InvalidArgumentError("must give the owner read and write (0600), got " +
                                FormatMode(mode));
  }
  return mode;
}

std::string FormatMode(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode);
  return buf;
}

StatusOr<uint16_t> ParseUsbId(std::string_view text) {
  uint32_t value = 0;
  bool ok = false;
  if (text.size() > 2 && (text.substr(0, 2) == "0x" || text.substr(0, 2) == "0X")) {
    const std::string_view hex = text.substr(2);
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
    ok = ec == std::errc() && end == hex.data() + hex.size();
  } else if (!text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
    ok = ec == std::errc() && end == text.data() + text.size();
  }
  if (!ok || value > 0xFFFF) {
    return InvalidArgumentError("must be a 16-bit USB id such as 0x1209, got " + Quoted(text));
  }
  return static_cast<uint16_t>(value);
}

std::string FormatUsbId(uint16_t id) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04x", id);
  return buf;
}

StatusOr<std::string> ParseChoice(std::string_view text,
                                  std::initializer_list<std::string_view> choices) {
  std::string list;
  for (std::string_view choice : choices) {
    if (choice == text) return std::string(text);
    if (!list.empty()) list += ", ";
    list += choice;
  }
  return InvalidArgumentError("must be one of " + list + ", got " + Quoted(text));
}

StatusOr<std::string> ParseAbsolutePath(std::string_view text, size_t max_length) {
  if (text.empty() || text.front() != '/') {
    return InvalidArgumentError("must be an absolute path, got " + Quoted(text));
  }
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgumentError("must not contain a NUL byte");
  }
  std::string path(text);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.size() > max_length) {
    return InvalidArgumentError("must be at most " + std::to_string(max_length) +
                                " bytes long, got " + std::to_string(path.size()) + " in " +
                                Quoted(path));
  }
  return path;
}

StatusOr<std::string> ParseGroupName(std::string_view text, bool allow_empty) {
  if (text.empty() && allow_empty) return std::string();
  bool ok = !text.empty() && text.size() <= 32;
  for (size_t i = 0; ok && i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ok = std::isalpha(c) || c == '_' || (i > 0 && (std::isdigit(c) || c == '-' || c == '.'));
  }
  if (!ok) {
    return InvalidArgumentError(std::string("must be a group name ([A-Za-z_][A-Za-z0-9_.-]*, ") +
                                "at most 32 characters)" + (allow_empty ? " or empty" : "") +
                                ", got " + Quoted(text));
  }
  return std::string(text);
}

StatusOr<std::string> ParseProfileName(std::string_view text) {
  bool ok = !text.empty() && text.size() <= 64;
  for (size_t i = 0; ok && i < text.size(); ++i) {
    const char c = text[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
  }
  if (!ok) {
    return InvalidArgumentError(
        "must be a profile name ([a-z0-9][a-z0-9._-]*, at most 64 characters), got " +
        Quoted(text));
  }
  return std::string(text);
}

StatusOr<std::string> ParseIpAddress(std::string_view text) {
  const std::string address(text);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1 ||
      inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    return address;
  }
  return InvalidArgumentError("must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got " +
                              Quoted(text));
}

bool IsLoopbackAddress(std::string_view address) {
  return address == "::1" || address.substr(0, 4) == "127.";
}

std::string ClosestMatch(std::string_view word, std::span<const std::string> candidates) {
  // Optimal string alignment distance: insertions, deletions, substitutions
  // and swaps of neighbours each cost one.
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.size()][b.size()];
  };
  const size_t threshold = std::max<size_t>(2, word.size() / 4);
  std::string best;
  size_t best_distance = threshold + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = distance(Lower(word), Lower(candidate));
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace spk::daemon
