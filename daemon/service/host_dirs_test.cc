#include "daemon/service/host_dirs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::daemon {
namespace {

using ::testing::HasSubstr;

class HostDirsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/spk-host-dirs-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_;
};

TEST_F(HostDirsTest, AMissingDirectoryIsCreatedForTheDaemonAlone) {
  const std::string dir = root_ + "/spiked-private";
  ASSERT_TRUE(EnsurePrivateDir(dir, ::geteuid()).ok());
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // Its own directory is accepted again at the next start.
  EXPECT_TRUE(EnsurePrivateDir(dir, ::geteuid()).ok());
}

TEST_F(HostDirsTest, ADirectoryOfAnotherUserIsRefused) {
  const std::string dir = root_ + "/spiked-other";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  // Owned by this process's uid, so wrong for any other.
  const uid_t daemon_uid = ::geteuid() + 4242;
  const Status s = EnsurePrivateDir(dir, daemon_uid);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir));
  EXPECT_THAT(std::string(s.message()), HasSubstr("belongs to uid " + std::to_string(::geteuid())));
}

TEST_F(HostDirsTest, ADirectoryOthersMayEnterIsRefused) {
  const std::string dir = root_ + "/spiked-open";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  const Status s = EnsurePrivateDir(dir, ::geteuid());
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mode is 0777, wider than 0700"));
}

TEST_F(HostDirsTest, ASymbolicLinkIsNotFollowed) {
  const std::string target = root_ + "/elsewhere";
  const std::string link = root_ + "/spiked-link";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  const Status s = EnsurePrivateDir(link, ::geteuid());
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a directory"));
}

TEST_F(HostDirsTest, OneDaemonAtATimeHoldsAStateDirectory) {
  const std::string state = root_ + "/state";
  auto first = StateDirLock::Acquire(state);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(std::filesystem::exists(state + "/spiked.lock"));
  auto second = StateDirLock::Acquire(state);
  ASSERT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("state.dir " + state + " is in use by another spiked"));
  first->reset();
  EXPECT_TRUE(StateDirLock::Acquire(state).ok());
}

}  // namespace
}  // namespace spk::daemon
