#include "daemon/protocol/socket_path.h"

namespace spk::protocol {
namespace {

bool IsSet(const EnvironmentMap& env, const std::string& name) {
  auto it = env.find(name);
  return it != env.end() && !it->second.empty();
}

}  // namespace

bool UnderSystemd(const EnvironmentMap& env) {
  return IsSet(env, "NOTIFY_SOCKET") || IsSet(env, "LISTEN_FDS");
}

std::string AbsoluteDirFromEnv(const EnvironmentMap& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end()) return "";
  std::string value = it->second.substr(0, it->second.find(':'));
  if (value.empty() || value.front() != '/') return "";
  while (value.size() > 1 && value.back() == '/') value.pop_back();
  return value;
}

std::string DefaultSocketPath(const EnvironmentMap& env, uint32_t uid) {
  const std::string runtime_directory = AbsoluteDirFromEnv(env, "RUNTIME_DIRECTORY");
  if (!runtime_directory.empty()) return runtime_directory + "/spiked.sock";
  const std::string xdg_runtime = AbsoluteDirFromEnv(env, "XDG_RUNTIME_DIR");
  if (uid == 0 || (UnderSystemd(env) && xdg_runtime.empty())) return kSystemSocketPath;
  if (!xdg_runtime.empty()) return xdg_runtime + "/spiked/spiked.sock";
  return PrivateTmpDir(uid) + "/spiked.sock";
}

std::string PrivateTmpDir(uint32_t uid) { return "/tmp/spiked-" + std::to_string(uid); }

std::vector<std::string> ClientSocketCandidates(const EnvironmentMap& env, uint32_t uid) {
  auto it = env.find(kSocketEnvVar);
  if (it != env.end() && !it->second.empty()) return {it->second};
  // A client is not a service: ignore systemd variables it may have
  // inherited and use the caller's own default.
  EnvironmentMap user_env;
  auto xdg = env.find("XDG_RUNTIME_DIR");
  if (xdg != env.end()) user_env.emplace(xdg->first, xdg->second);
  std::vector<std::string> candidates;
  const std::string own = DefaultSocketPath(user_env, uid);
  if (own != kSystemSocketPath) candidates.push_back(own);
  candidates.push_back(kSystemSocketPath);
  return candidates;
}

}  // namespace spk::protocol
