// Checks for programmer errors: a failed check is a bug in spiked, so it
// prints where and why and aborts. Input from users, files, sockets or devices
// is never checked this way; it gets a Status.
//
//   SPK_CHECK(ptr != nullptr) << "while loading " << name;
//   SPK_CHECK_EQ(a.size(), b.size());
//   SPK_DCHECK(...)   // compiled out in NDEBUG builds
#ifndef SPK_BASE_CHECK_H_
#define SPK_BASE_CHECK_H_

#include <sstream>

#include "base/status.h"

namespace spk::internal_check {

// Collects the streamed message and aborts when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Lets `cond ? (void)0 : Voidify() & stream` type-check.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace spk::internal_check

#define SPK_CHECK(cond)                       \
  (cond) ? static_cast<void>(0)               \
         : ::spk::internal_check::Voidify() & \
               ::spk::internal_check::CheckFailure(__FILE__, __LINE__, #cond).stream()

#define SPK_CHECK_OP_(a, op, b) SPK_CHECK((a)op(b)) << "(" << (a) << " vs " << (b) << ") "
#define SPK_CHECK_EQ(a, b) SPK_CHECK_OP_(a, ==, b)
#define SPK_CHECK_NE(a, b) SPK_CHECK_OP_(a, !=, b)
#define SPK_CHECK_LT(a, b) SPK_CHECK_OP_(a, <, b)
#define SPK_CHECK_LE(a, b) SPK_CHECK_OP_(a, <=, b)
#define SPK_CHECK_GT(a, b) SPK_CHECK_OP_(a, >, b)
#define SPK_CHECK_GE(a, b) SPK_CHECK_OP_(a, >=, b)
// Aborts when a Status or StatusOr is not OK; for results that cannot fail
// unless spiked itself is wrong.
#define SPK_CHECK_OK(expr)                                                          \
  do {                                                                              \
    const ::spk::Status spk_check_status_ = ::spk::internal_status::AsStatus(expr); \
    SPK_CHECK(spk_check_status_.ok()) << spk_check_status_;                         \
  } while (false)

#ifdef NDEBUG
#define SPK_DCHECK(cond) \
  while (false) SPK_CHECK(cond)
#else
#define SPK_DCHECK(cond) SPK_CHECK(cond)
#endif

#endif  // SPK_BASE_CHECK_H_
