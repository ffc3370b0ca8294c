// hearth's public API: errors.
//
// Every failure a caller can cause or meet (a missing file, a bad request, a full queue) throws hearth::Error —
// the same type hearth throws internally (src/core/error.h includes this header);
// its kind() says what went wrong without matching message strings, and what() names the file, key or input
// and the fault. Programming errors inside hearth abort instead of throwing.
//
// The public API lives in the inline namespace hearth::v1: programs write hearth::Error, hearth::Model, … and
// the version is part of the symbol names, so a future incompatible API can sit beside this one.
#pragma once

#include <stdexcept>
#include <string>

namespace hearth {
inline namespace v1 {

enum class ErrorKind {
  kInvalidArgument,    // the request or input is wrong
  kNotFound,           // a file, model or id that does not exist
  kUnsupported,        // well-formed, but a feature hearth does not have (an architecture, a tokenizer type)
  kCorruptData,        // a file that is damaged or not what it claims to be
  kResourceExhausted,  // out of memory, context or cache room
  kBusy,               // a queue is full: try again later
  kCancelled,          // the caller cancelled it
};

// "invalid_argument", "not_found", "unsupported", "corrupt_data", "resource_exhausted", "busy", "cancelled".
const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kInvalidArgument)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace v1
}  // namespace hearth
