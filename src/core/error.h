// Error handling, split the way FAISS does it:
//  - hearth::Error is a *user* error (bad file, bad input, unsupported model). It carries a message that
//    names what was wrong and where; the CLI prints it as one line, the server as an OpenAI-style JSON error.
//  - HEARTH_ASSERT is a *programmer* error: it aborts with file:line. Never use it for input validation.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

#include "hearth/error.h"

namespace hearth {

// hearth::Error and hearth::ErrorKind are the public API's (include/hearth/error.h): one type from the kernels to
// the program embedding hearth, so nothing translates errors at the boundary. The kind lets callers branch (the
// server maps it to an HTTP status) without matching message strings.

// The kind for a failed system call's errno: ENOENT / ENOTDIR not found, ENOSPC / EDQUOT / ENOMEM / EMFILE /
// ENFILE resource exhausted, anything else invalid argument.
ErrorKind errno_kind(int err);

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
