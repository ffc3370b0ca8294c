#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace hearth {

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

void assertion_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "hearth: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace hearth
