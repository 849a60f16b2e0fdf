#include "daemon/config/reload.h"

#include "base/check.h"

namespace spk::daemon {

ReloadPlan PlanReload(const DaemonConfig& running, const DaemonConfig& reread) {
  ReloadPlan plan;
  plan.config = reread;
  for (const KeyInfo& key : ConfigKeys()) {
    const std::string from = ValueText(running, key.name);
    const std::string to = ValueText(reread, key.name);
    if (from == to) continue;
    KeyChange change{std::string(key.name), from, to};
    if (key.live) {
      plan.applied.push_back(std::move(change));
      continue;
    }
    // The running value stays in force; it was valid when it was loaded.
    SPK_CHECK_OK(SetValue(plan.config, key.name, from));
    auto origin = running.origins.find(change.key);
    if (origin != running.origins.end()) plan.config.origins[change.key] = origin->second;
    plan.needs_restart.push_back(std::move(change));
  }
  return plan;
}

StatusOr<ReloadPlan> ReloadConfig(const DaemonConfig& running, const HostContext& host,
                                  const CommandLine& command_line) {
  SPK_ASSIGN_OR_RETURN(DaemonConfig reread, LoadConfig(host, command_line));
  return PlanReload(running, reread);
}

std::string DescribeReload(const ReloadPlan& plan) {
  if (!plan.changed()) return "reload: nothing changed";
  auto list = [](const std::vector<KeyChange>& changes) {
    std::string out;
    for (const KeyChange& c : changes) {
      if (!out.empty()) out += ", ";
      out += c.key + " " + c.from + " -> " + c.to;
    }
    return out;
  };
  std::string text = "reload:";
  if (!plan.applied.empty()) text += " applied " + list(plan.applied);
  if (!plan.needs_restart.empty()) {
    text += std::string(plan.applied.empty() ? "" : ";") + " restart needed for " +
            list(plan.needs_restart) + " (running values kept)";
  }
  return text;
}

}  // namespace spk::daemon
