#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace spk::internal_check {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  std::string message = stream_.str();
  std::fprintf(stderr, "spiked: fatal: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace spk::internal_check
