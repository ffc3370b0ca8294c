#include "api/internal.h"

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

namespace {

// A switch rather than a cast of the enum's value, so that a kind added to either enum is a -Wswitch warning
// here instead of a silent mismatch.
ErrorKind public_kind(internal::ErrorKind kind) {
  using K = internal::ErrorKind;
  switch (kind) {
    case K::kInvalidArgument: return ErrorKind::kInvalidArgument;
    case K::kNotFound: return ErrorKind::kNotFound;
    case K::kUnsupported: return ErrorKind::kUnsupported;
    case K::kCorruptData: return ErrorKind::kCorruptData;
    case K::kResourceExhausted: return ErrorKind::kResourceExhausted;
    case K::kBusy: return ErrorKind::kBusy;
    case K::kCancelled: return ErrorKind::kCancelled;
  }
  return ErrorKind::kInvalidArgument;
}

}  // namespace

Error public_error(const internal::Error& e) { return Error(e.what(), public_kind(e.kind())); }

}  // namespace hearth::inline v1
