#include "daemon/service/host_dirs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace spk::daemon {

Status EnsurePrivateDir(const std::string& dir, uid_t uid) {
  // mkdir, not create_directories: the parent (/tmp) must exist already, and
  // a directory someone else made first must not be taken as ours.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError(dir + ": cannot create: " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return UnavailableError(dir + ": " + std::strerror(errno));
  }
  const std::string refused = dir + " is refused as spiked's private directory: ";
  if (!S_ISDIR(st.st_mode)) {
    return PermissionDeniedError(refused + "it is not a directory (a symbolic link?); remove it");
  }
  if (st.st_uid != uid) {
    return PermissionDeniedError(refused + "it belongs to uid " + std::to_string(st.st_uid) +
                                 ", not to uid " + std::to_string(uid) +
                                 " that spiked runs as; remove it");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return PermissionDeniedError(refused + "its mode is " + mode +
                                 ", wider than 0700; run chmod 0700 " + dir);
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<StateDirLock>> StateDirLock::Acquire(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return UnavailableError("state.dir " + state_dir + " cannot be created: " + ec.message());
  }
  const std::string path = state_dir + "/spiked.lock";
  // Close-on-exec: a compiler process must not keep the lock of a daemon
  // that has exited.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError(path + ": cannot open: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return FailedPreconditionError("state.dir " + state_dir +
                                     " is in use by another spiked (it holds " + path +
                                     "); give each daemon its own --state-dir");
    }
    return UnavailableError(path + ": cannot lock: " + std::strerror(error));
  }
  return std::unique_ptr<StateDirLock>(new StateDirLock(fd));
}

StateDirLock::~StateDirLock() { ::close(fd_); }

}  // namespace spk::daemon
