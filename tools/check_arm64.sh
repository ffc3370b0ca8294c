#!/usr/bin/env bash
# Compiles the layers that hold architecture-specific code (src/core: CPU detection, thread pool; src/backends:
# kernel dispatch and the SIMD kernels) for arm64 with the Debian cross compiler (g++-aarch64-linux-gnu, installed
# by make deps), to object code, warnings as errors. It proves that the NEON kernels and the dispatch compile for
# arm64 (the x86 SIMD files compile to nothing there); it cannot run them. The other layers are portable C++ with
# no architecture-specific code (grep for __x86_64__ / __aarch64__ to check).
#   tools/check_arm64.sh            exit 0: compiled; 77: no cross compiler (ctest reports the test as skipped)
set -euo pipefail
cxx=${HEARTH_ARM64_CXX:-aarch64-linux-gnu-g++}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "check_arm64: $cxx not found (make deps installs g++-aarch64-linux-gnu); skipping"
  exit 77
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Library headers (fmt, nlohmann-json, PCRE2, utf8proc) are architecture-independent; -idirafter finds them after
# the cross compiler's own C library headers.
flags=(-std=c++20 -Wall -Wextra -Werror -march=armv8-a -I"$root/src" -I"$root/include" -idirafter /usr/include)
n=0
while IFS= read -r f; do
  "$cxx" "${flags[@]}" -O1 -c "$f" -o "$out/$(basename "$f").o"
  n=$((n + 1))
done < <(find "$root/src/core" "$root/src/backends" -name '*.cpp' | sort)
grep -q init_neon_kernels <(nm "$out/matmul_neon.cpp.o") || { echo "check_arm64: NEON kernels missing"; exit 1; }
echo "check_arm64: $n files compiled for arm64 with $cxx"
