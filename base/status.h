// Status and StatusOr: how every component of spiked reports failure.
//
// No exception crosses a component boundary; a function that can fail returns
// a Status (or StatusOr<T>), and the code tells the caller what to do next:
//   INVALID_ARGUMENT    the caller's input is wrong; fix it and retry.
//   NOT_FOUND           the named thing does not exist.
//   ALREADY_EXISTS      the thing to create exists already.
//   PERMISSION_DENIED   the caller is not allowed to do this.
//   RESOURCE_EXHAUSTED  no cores, memory or quota left; free some first.
//   FAILED_PRECONDITION the system is in the wrong state (firmware mismatch).
//   UNAVAILABLE         busy or unplugged; retrying later may succeed.
//   DEADLINE_EXCEEDED   a timeout fired.
//   DATA_LOSS           corrupt data (bad checksum, truncated image).
//   UNIMPLEMENTED       valid request this build or device cannot do.
//   INTERNAL            a bug in spiked.
//
// Status is a value type; copying an OK status allocates nothing.
// Thread safety: distinct objects may be used from distinct threads.
#ifndef SPK_BASE_STATUS_H_
#define SPK_BASE_STATUS_H_

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace spk {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
};

// "INVALID_ARGUMENT" etc.; the names are part of the wire protocol.
std::string_view StatusCodeName(StatusCode code);
// Inverse of StatusCodeName; nullopt for an unknown name.
std::optional<StatusCode> StatusCodeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string_view message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : ""; }

  // Returns a copy whose message is "context: message"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "OK" or "INVALID_ARGUMENT: message".
  std::string ToString() const;

  // Marks a status as deliberately ignored.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;  // shared: statuses are immutable once made
};

std::ostream& operator<<(std::ostream& os, const Status& status);

Status CancelledError(std::string_view message);
Status UnknownError(std::string_view message);
Status InvalidArgumentError(std::string_view message);
Status DeadlineExceededError(std::string_view message);
Status NotFoundError(std::string_view message);
Status AlreadyExistsError(std::string_view message);
Status PermissionDeniedError(std::string_view message);
Status ResourceExhaustedError(std::string_view message);
Status FailedPreconditionError(std::string_view message);
Status AbortedError(std::string_view message);
Status OutOfRangeError(std::string_view message);
Status UnimplementedError(std::string_view message);
Status InternalError(std::string_view message);
Status UnavailableError(std::string_view message);
Status DataLossError(std::string_view message);

namespace internal {
[[noreturn]] void DieBecauseOkStatusInStatusOr();
[[noreturn]] void DieBecauseValueOfError(const Status& status);
}  // namespace internal

// Either a value of T or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "StatusOr<Status> is not allowed");

 public:
  // Implicit so that `return value;` and `return SomeError(...);` both work.
  StatusOr(const Status& status) : status_(status) {  // NOLINT
    if (status_.ok()) internal::DieBecauseOkStatusInStatusOr();
  }
  StatusOr(Status&& status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) internal::DieBecauseOkStatusInStatusOr();
  }
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, StatusOr<T>>>>
  StatusOr(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT

  StatusOr(const StatusOr&) = default;
  StatusOr(StatusOr&&) noexcept = default;
  StatusOr& operator=(const StatusOr&) = default;
  StatusOr& operator=(StatusOr&&) noexcept = default;

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  // Aborts with the status when !ok(): a programmer error.
  const T& value() const& {
    if (!ok()) internal::DieBecauseValueOfError(status_);
    return *value_;
  }
  T& value() & {
    if (!ok()) internal::DieBecauseValueOfError(status_);
    return *value_;
  }
  T&& value() && {
    if (!ok()) internal::DieBecauseValueOfError(status_);
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace spk

#define SPK_STATUS_CONCAT_INNER_(a, b) a##b
#define SPK_STATUS_CONCAT_(a, b) SPK_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function with the status of `expr` when it fails.
#define SPK_RETURN_IF_ERROR(expr)                                       \
  do {                                                                  \
    ::spk::Status spk_status_ = ::spk::internal_status::AsStatus(expr); \
    if (!spk_status_.ok()) return spk_status_;                          \
  } while (false)

// `SPK_ASSIGN_OR_RETURN(auto x, MakeX());` declares/assigns x from a
// StatusOr, or returns its error.
#define SPK_ASSIGN_OR_RETURN(lhs, rexpr) \
  SPK_ASSIGN_OR_RETURN_IMPL_(SPK_STATUS_CONCAT_(spk_statusor_, __LINE__), lhs, rexpr)
#define SPK_ASSIGN_OR_RETURN_IMPL_(var, lhs, rexpr) \
  auto var = (rexpr);                               \
  if (!var.ok()) return std::move(var).status();    \
  lhs = std::move(var).value()

namespace spk::internal_status {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
const Status& AsStatus(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace spk::internal_status

#endif  // SPK_BASE_STATUS_H_
