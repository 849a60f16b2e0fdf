#include "daemon/state/core_list.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

namespace spk::daemon::state {
namespace {

constexpr uint32_t kMaxCore = INT32_MAX;  // cores are stored as SQLite integers
// Far above any board (a Hala Point system has about 150k cores); stops a
// list like "0-2147483647" from allocating gigabytes.
constexpr uint64_t kMaxListedCores = 1u << 20;

bool ParseNumber(std::string_view text, uint32_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && *out <= kMaxCore;
}

}  // namespace

std::string FormatCoreList(std::vector<uint32_t> cores) {
  std::sort(cores.begin(), cores.end());
  cores.erase(std::unique(cores.begin(), cores.end()), cores.end());
  std::string out;
  for (size_t i = 0; i < cores.size();) {
    size_t j = i;
    while (j + 1 < cores.size() && cores[j + 1] == cores[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cores[i]);
    if (j > i) out += '-' + std::to_string(cores[j]);
    i = j + 1;
  }
  return out;
}

StatusOr<std::vector<uint32_t>> ParseCoreList(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("empty core list");
  std::vector<uint32_t> cores;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    size_t dash = item.find('-');
    uint32_t first = 0;
    uint32_t last = 0;
    bool ok = dash == std::string_view::npos
                  ? ParseNumber(item, &first) && ((last = first), true)
                  : ParseNumber(item.substr(0, dash), &first) &&
                        ParseNumber(item.substr(dash + 1), &last) && first <= last;
    if (!ok) {
      return InvalidArgumentError("core list \"" + std::string(text) + "\": bad item \"" +
                                  std::string(item) + "\" (want N or N-M with N <= M)");
    }
    if (cores.size() + (uint64_t{last} - first + 1) > kMaxListedCores) {
      return InvalidArgumentError("core list \"" + std::string(text).substr(0, 64) +
                                  "\": more than " + std::to_string(kMaxListedCores) + " cores");
    }
    for (uint64_t core = first; core <= last; ++core) {
      cores.push_back(static_cast<uint32_t>(core));
    }
    start = comma + 1;
  }
  std::sort(cores.begin(), cores.end());
  auto duplicate = std::adjacent_find(cores.begin(), cores.end());
  if (duplicate != cores.end()) {
    return InvalidArgumentError("core list \"" + std::string(text) + "\": core " +
                                std::to_string(*duplicate) + " is listed twice");
  }
  return cores;
}

}  // namespace spk::daemon::state
