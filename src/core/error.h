// Error handling, split the way FAISS does it:
//  - hearth::Error is a *user* error (bad file, bad input, unsupported model). It carries a message that
//    names what was wrong and where; the CLI prints it as one line, the server as an OpenAI-style JSON error.
//  - HEARTH_ASSERT is a *programmer* error: it aborts with file:line. Never use it for input validation.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hearth {

// What kind of user error: callers branch on it (the server maps it to an HTTP status) without matching
// message strings.
enum class ErrorKind {
  kInvalidArgument,    // the request or input is wrong (the default)
  kNotFound,           // a file, model or id that does not exist
  kUnsupported,        // well-formed, but a feature hearth does not have (an architecture, a tokenizer type)
  kCorruptData,        // a file that is damaged or not what it claims to be
  kResourceExhausted,  // out of memory, context or cache room
  kBusy,               // a queue is full: try again later
  kCancelled,          // the caller cancelled it
};
const char* to_string(ErrorKind kind);

// The kind of a failed system call, from its errno: a missing path is kNotFound, a full disk or exhausted
// memory or file descriptors kResourceExhausted, anything else (permissions, a bad name) kInvalidArgument.
ErrorKind errno_kind(int err);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kInvalidArgument)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Throws hearth::Error (kInvalidArgument) with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Throws hearth::Error of the given kind with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...), kind);
}

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line);

}  // namespace hearth

#define HEARTH_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::hearth::assertion_failed(#cond, __FILE__, __LINE__))
