// The directories spiked takes for itself on the host before it serves: a
// private directory under /tmp that must really be the daemon's, and the
// lock that keeps two daemons from sharing one state directory.
//
// Thread safety: functions are safe to call from any thread; a
// StateDirLock is owned by one thread (main) for the life of the daemon.
#ifndef SPK_DAEMON_SERVICE_HOST_DIRS_H_
#define SPK_DAEMON_SERVICE_HOST_DIRS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace spk::daemon {

// Makes sure `dir` is a directory only `uid` can use: creates it with mode
// 0700 when missing, then checks it without following a symbolic link.
// Anyone may create a name under /tmp first, so a directory that is a link,
// not a directory, owned by another uid or open to group or others would let
// that user swap the socket or read the state. PERMISSION_DENIED naming the
// directory and what is wrong with it; UNAVAILABLE when it cannot be created.
Status EnsurePrivateDir(const std::string& dir, uid_t uid);

// An exclusive, non-blocking flock on <state dir>/spiked.lock, held until
// destruction (or until the process exits, whatever kills it). The state
// database has its own locks for single writes, but two daemons on one
// state directory would each believe they own every deployment and core.
class StateDirLock {
 public:
  // Creates the state directory when missing. FAILED_PRECONDITION naming the
  // directory when another process holds the lock; UNAVAILABLE when the lock
  // file cannot be opened.
  static StatusOr<std::unique_ptr<StateDirLock>> Acquire(const std::string& state_dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  explicit StateDirLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace spk::daemon

#endif  // SPK_DAEMON_SERVICE_HOST_DIRS_H_
