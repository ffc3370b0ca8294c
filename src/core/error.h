// Error handling, split the way FAISS does it:
//  - hearth::Error is a *user* error (bad file, bad input, unsupported model). It carries a message that
//    names what was wrong and where; the CLI prints it as one line, the server as an OpenAI-style JSON error.
//  - HEARTH_ASSERT is a *programmer* error: it aborts with file:line. Never use it for input validation.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hearth {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws hearth::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line);

}  // namespace hearth

#define HEARTH_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::hearth::assertion_failed(#cond, __FILE__, __LINE__))
