// thrown_kind: the kind of the hearth::Error a call throws, for the suites that test internal layers (the public
// API's suite has its own Error type and does not include this).
#pragma once

#include <string>

#include "core/error.h"

namespace hearth::test {

// The kind of the Error that f() throws, as to_string names it ("no error" if none), so that a failed
// EXPECT_EQ(thrown_kind(...), to_string(ErrorKind::k...)) shows both kinds by name.
template <typename F>
std::string thrown_kind(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return to_string(e.kind());
  }
  return "no error";
}

}  // namespace hearth::test
