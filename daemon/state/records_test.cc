#include "daemon/state/records.h"

#include <set>
#include <utility>

#include "gtest/gtest.h"

namespace spk::daemon::state {
namespace {

using S = DeploymentState;
constexpr S kAll[] = {S::kPending, S::kFailed,      S::kCompiling, S::kLoading,
                      S::kReady,   S::kUndeploying, S::kUndeployed};

TEST(Records, NamesRoundTrip) {
  for (S s : kAll) EXPECT_EQ(DeploymentStateFromName(DeploymentStateName(s)), s);
  EXPECT_EQ(DeploymentStateFromName("running"), std::nullopt);
  for (auto p : {FailoverPolicy::kNone, FailoverPolicy::kEmulator}) {
    EXPECT_EQ(FailoverPolicyFromName(FailoverPolicyName(p)), p);
  }
  for (auto b :
       {BoardState::kOnline, BoardState::kDegraded, BoardState::kFailed, BoardState::kOffline}) {
    EXPECT_EQ(BoardStateFromName(BoardStateName(b)), b);
  }
}

TEST(Records, StateMachineIsExactlyAsDocumented) {
  const std::set<std::pair<S, S>> legal = {
      {S::kPending, S::kCompiling},      {S::kPending, S::kLoading},   {S::kPending, S::kFailed},
      {S::kCompiling, S::kLoading},      {S::kCompiling, S::kFailed},  {S::kLoading, S::kReady},
      {S::kLoading, S::kFailed},         {S::kReady, S::kUndeploying}, {S::kReady, S::kFailed},
      {S::kUndeploying, S::kUndeployed},
  };
  for (S from : kAll) {
    for (S to : kAll) {
      EXPECT_EQ(IsLegalTransition(from, to), legal.contains({from, to}))
          << DeploymentStateName(from) << " -> " << DeploymentStateName(to);
    }
  }
}

TEST(Records, OnlyFailedAndUndeployedAreInactive) {
  for (S s : kAll) {
    EXPECT_EQ(IsActive(s), s != S::kFailed && s != S::kUndeployed) << DeploymentStateName(s);
    // Inactive states are terminal.
    if (!IsActive(s)) {
      EXPECT_TRUE(NextStates(s).empty());
    }
  }
}

}  // namespace
}  // namespace spk::daemon::state
