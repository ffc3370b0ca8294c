#include "core/error.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

// Declared in the public header's inline namespace, so defined there.
namespace hearth::inline v1 {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kNotFound: return "not_found";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kCorruptData: return "corrupt_data";
    case ErrorKind::kResourceExhausted: return "resource_exhausted";
    case ErrorKind::kBusy: return "busy";
    case ErrorKind::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace hearth::inline v1

namespace hearth {

ErrorKind errno_kind(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return ErrorKind::kNotFound;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE: return ErrorKind::kResourceExhausted;
    default: return ErrorKind::kInvalidArgument;
  }
}

void assertion_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "hearth: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace hearth
