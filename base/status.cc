#include "base/status.h"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace spk {
namespace {

constexpr std::array<std::string_view, 16> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS",
};

}  // namespace

std::string_view StatusCodeName(StatusCode code) {
  auto index = static_cast<size_t>(code);
  return index < kCodeNames.size() ? kCodeNames[index] : "UNKNOWN";
}

std::optional<StatusCode> StatusCodeFromName(std::string_view name) {
  for (size_t i = 0; i < kCodeNames.size(); ++i) {
    if (kCodeNames[i] == name) return static_cast<StatusCode>(i);
  }
  return std::nullopt;
}

Status::Status(StatusCode code, std::string_view message) {
  if (code != StatusCode::kOk) rep_ = std::make_shared<const Rep>(Rep{code, std::string(message)});
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string message(context);
  if (!rep_->message.empty()) {
    message += ": ";
    message += rep_->message;
  }
  return Status(rep_->code, message);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code()));
  if (!rep_->message.empty()) {
    out += ": ";
    out += rep_->message;
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

#define SPK_DEFINE_ERROR_FACTORY_(Name, code) \
  Status Name(std::string_view message) { return Status(StatusCode::code, message); }
SPK_DEFINE_ERROR_FACTORY_(CancelledError, kCancelled)
SPK_DEFINE_ERROR_FACTORY_(UnknownError, kUnknown)
SPK_DEFINE_ERROR_FACTORY_(InvalidArgumentError, kInvalidArgument)
SPK_DEFINE_ERROR_FACTORY_(DeadlineExceededError, kDeadlineExceeded)
SPK_DEFINE_ERROR_FACTORY_(NotFoundError, kNotFound)
SPK_DEFINE_ERROR_FACTORY_(AlreadyExistsError, kAlreadyExists)
SPK_DEFINE_ERROR_FACTORY_(PermissionDeniedError, kPermissionDenied)
SPK_DEFINE_ERROR_FACTORY_(ResourceExhaustedError, kResourceExhausted)
SPK_DEFINE_ERROR_FACTORY_(FailedPreconditionError, kFailedPrecondition)
SPK_DEFINE_ERROR_FACTORY_(AbortedError, kAborted)
SPK_DEFINE_ERROR_FACTORY_(OutOfRangeError, kOutOfRange)
SPK_DEFINE_ERROR_FACTORY_(UnimplementedError, kUnimplemented)
SPK_DEFINE_ERROR_FACTORY_(InternalError, kInternal)
SPK_DEFINE_ERROR_FACTORY_(UnavailableError, kUnavailable)
SPK_DEFINE_ERROR_FACTORY_(DataLossError, kDataLoss)
#undef SPK_DEFINE_ERROR_FACTORY_

namespace internal {

void DieBecauseOkStatusInStatusOr() {
  std::fputs("spiked: fatal: StatusOr constructed from an OK Status\n", stderr);
  std::abort();
}

void DieBecauseValueOfError(const Status& status) {
  std::fprintf(stderr, "spiked: fatal: value() of a StatusOr holding %s\n",
               status.ToString().c_str());
  std::abort();
}

}  // namespace internal
}  // namespace spk
