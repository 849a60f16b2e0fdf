#include "daemon/state/records.h"

#include <algorithm>
#include <array>
#include <utility>

namespace spk::daemon::state {
namespace {

using S = DeploymentState;

constexpr std::array<std::pair<S, std::string_view>, 7> kStateNames = {{
    {S::kPending, "pending"},
    {S::kCompiling, "compiling"},
    {S::kLoading, "loading"},
    {S::kReady, "ready"},
    {S::kFailed, "failed"},
    {S::kUndeploying, "undeploying"},
    {S::kUndeployed, "undeployed"},
}};

constexpr std::array<S, 3> kFromPending = {S::kCompiling, S::kLoading, S::kFailed};
constexpr std::array<S, 2> kFromCompiling = {S::kLoading, S::kFailed};
constexpr std::array<S, 2> kFromLoading = {S::kReady, S::kFailed};
constexpr std::array<S, 2> kFromReady = {S::kUndeploying, S::kFailed};
constexpr std::array<S, 1> kFromUndeploying = {S::kUndeployed};

constexpr std::array<std::pair<FailoverPolicy, std::string_view>, 2> kFailoverNames = {{
    {FailoverPolicy::kNone, "none"},
    {FailoverPolicy::kEmulator, "emulator"},
}};

constexpr std::array<std::pair<BoardState, std::string_view>, 4> kBoardStateNames = {{
    {BoardState::kOnline, "online"},
    {BoardState::kDegraded, "degraded"},
    {BoardState::kFailed, "failed"},
    {BoardState::kOffline, "offline"},
}};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::array<std::pair<E, std::string_view>, N>& table,
                         std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view DeploymentStateName(DeploymentState state) { return NameOf(kStateNames, state); }

std::optional<DeploymentState> DeploymentStateFromName(std::string_view name) {
  return ValueOf(kStateNames, name);
}

bool IsActive(DeploymentState state) {
  return state != DeploymentState::kFailed && state != DeploymentState::kUndeployed;
}

std::span<const DeploymentState> NextStates(DeploymentState from) {
  switch (from) {
    case S::kPending:
      return kFromPending;
    case S::kCompiling:
      return kFromCompiling;
    case S::kLoading:
      return kFromLoading;
    case S::kReady:
      return kFromReady;
    case S::kUndeploying:
      return kFromUndeploying;
    case S::kFailed:
    case S::kUndeployed:
      return {};
  }
  return {};
}

bool IsLegalTransition(DeploymentState from, DeploymentState to) {
  auto next = NextStates(from);
  return std::find(next.begin(), next.end(), to) != next.end();
}

std::string_view FailoverPolicyName(FailoverPolicy policy) {
  return NameOf(kFailoverNames, policy);
}

std::optional<FailoverPolicy> FailoverPolicyFromName(std::string_view name) {
  return ValueOf(kFailoverNames, name);
}

std::string_view BoardStateName(BoardState state) { return NameOf(kBoardStateNames, state); }

std::optional<BoardState> BoardStateFromName(std::string_view name) {
  return ValueOf(kBoardStateNames, name);
}

}  // namespace spk::daemon::state
