#include "daemon/protocol/socket_path.h"

#include <gtest/gtest.h>

namespace spk::protocol {
namespace {

TEST(DefaultSocketPathTest, SystemdRuntimeDirectoryWins) {
  EXPECT_EQ(DefaultSocketPath({{"RUNTIME_DIRECTORY", "/run/spiked:/run/other"},
                               {"NOTIFY_SOCKET", "/run/systemd/notify"}},
                              998),
            "/run/spiked/spiked.sock");
  EXPECT_EQ(DefaultSocketPath({{"RUNTIME_DIRECTORY", "/run/user/1000/spiked/"}}, 1000),
            "/run/user/1000/spiked/spiked.sock");
}

TEST(DefaultSocketPathTest, RootAndSystemServicesUseRun) {
  EXPECT_EQ(DefaultSocketPath({}, 0), "/run/spiked/spiked.sock");
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "/run/user/0"}}, 0), "/run/spiked/spiked.sock");
  // A system service as its own user, without RuntimeDirectory=.
  EXPECT_EQ(DefaultSocketPath({{"NOTIFY_SOCKET", "/run/systemd/notify"}}, 998),
            "/run/spiked/spiked.sock");
  EXPECT_EQ(DefaultSocketPath({{"LISTEN_FDS", "1"}}, 998), "/run/spiked/spiked.sock");
}

TEST(DefaultSocketPathTest, OrdinaryUsers) {
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, 1000),
            "/run/user/1000/spiked/spiked.sock");
  // A systemd user service has XDG_RUNTIME_DIR.
  EXPECT_EQ(
      DefaultSocketPath({{"XDG_RUNTIME_DIR", "/run/user/1000"}, {"NOTIFY_SOCKET", "x"}}, 1000),
      "/run/user/1000/spiked/spiked.sock");
  EXPECT_EQ(DefaultSocketPath({}, 1000), "/tmp/spiked-1000/spiked.sock");
  // Relative and empty values are ignored, as the XDG specification says.
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "run/user"}}, 1000),
            "/tmp/spiked-1000/spiked.sock");
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", ""}}, 1000), "/tmp/spiked-1000/spiked.sock");
}

TEST(ClientSocketCandidatesTest, OwnDaemonThenSystemDaemon) {
  EXPECT_EQ(
      ClientSocketCandidates({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, 1000),
      (std::vector<std::string>{"/run/user/1000/spiked/spiked.sock", "/run/spiked/spiked.sock"}));
  EXPECT_EQ(ClientSocketCandidates({}, 0), (std::vector<std::string>{"/run/spiked/spiked.sock"}));
  // Systemd variables a client inherited do not make it a service.
  EXPECT_EQ(ClientSocketCandidates({{"NOTIFY_SOCKET", "x"}}, 1000),
            (std::vector<std::string>{"/tmp/spiked-1000/spiked.sock", "/run/spiked/spiked.sock"}));
  EXPECT_EQ(ClientSocketCandidates({{"SPIKED_SERVER_SOCKET", "/srv/s.sock"}}, 1000),
            (std::vector<std::string>{"/srv/s.sock"}));
}

}  // namespace
}  // namespace spk::protocol
