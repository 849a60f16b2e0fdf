// The compact text form of a set of core numbers, as stored in the
// partitions table and shown by spikectl: "0-15,32,40-47".
//
// The form is canonical: ascending, no duplicates, runs of two or more
// consecutive cores written as "a-b". FormatCoreList always writes it;
// ParseCoreList accepts any order but refuses duplicates, so a core can never
// appear twice in a partition.
//
// Thread safety: pure functions.
#ifndef SPK_DAEMON_STATE_CORE_LIST_H_
#define SPK_DAEMON_STATE_CORE_LIST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace spk::daemon::state {

// Sorts and formats `cores`; duplicates are written once.
std::string FormatCoreList(std::vector<uint32_t> cores);

// Parses a list into ascending core numbers. INVALID_ARGUMENT naming the bad
// item for an empty list, a malformed item, a reversed range, a number above
// 2^31 - 1, more than 2^20 cores in all, or a core listed twice.
StatusOr<std::vector<uint32_t>> ParseCoreList(std::string_view text);

}  // namespace spk::daemon::state

#endif  // SPK_DAEMON_STATE_CORE_LIST_H_
