#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace hearth {

void assertion_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "hearth: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace hearth
