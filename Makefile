# hearth — top-level entry points. `make test` and `make demo` work on a fresh Debian bookworm machine.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
APT_PACKAGES := build-essential cmake ninja-build lld pkg-config clang libclang-rt-14-dev googletest libgtest-dev libgmock-dev \
  g++-aarch64-linux-gnu \
  libbenchmark-dev nlohmann-json3-dev libfmt-dev libcli11-dev libpcre2-dev libutf8proc-dev \
  libcpp-httplib-dev libtomlplusplus-dev libcurl4-openssl-dev tmux \
  libsqlite3-dev libhnswlib-dev libpoppler-cpp-dev ghostscript chromium
NODE_DIR := $(BUILD)/node

.PHONY: all deps apt-deps node-deps build test demo sanitize tsan fuzz bench clean

all: build

deps: apt-deps node-deps

# Idempotent: installs only what is missing (apt-get update once, only then).
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# npm packages (pinned in tools/node/package-lock.json) go into the build's own folder.
node-deps: $(NODE_DIR)/.installed
$(NODE_DIR)/.installed: tools/node/package.json tools/node/package-lock.json
	@mkdir -p $(NODE_DIR)
	cp tools/node/package.json tools/node/package-lock.json $(NODE_DIR)/
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: apt-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 1200

demo: deps build
	./tools/demo.sh $(BUILD)

# The instrumented builds (sanitizers, fuzzing) use clang, Ninja and lld with line tables only: clang compiles this
# code base with ASan + UBSan about three times as fast as GCC does, which keeps CI's whole run short on 2 cores.
# The Release build (make build, the benchmarks' figures) stays on the default compiler.
INSTRUMENTED := -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld -DHEARTH_BENCH=OFF

# ASan + UBSan build of the tests (CI runs it too). The libFuzzer targets are built in the same tree (make fuzz).
SANITIZED := $(INSTRUMENTED) -DHEARTH_SANITIZE=ON -DHEARTH_FUZZ=ON
sanitize: apt-deps node-deps
	cmake -S . -B $(BUILD)-asan $(SANITIZED) >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && HEARTH_NODE_DIR=$(abspath $(NODE_DIR)) ctest --output-on-failure -j$(JOBS) --timeout 1800 -LE slow

# ThreadSanitizer build of the runtime's tests (the batching engine's scheduler thread, callers' threads and the
# backend's thread pool); without the AVX-512 kernels, whose instrumented compile is the slowest and which hold no
# threading of their own.
tsan: apt-deps node-deps
	cmake -S . -B $(BUILD)-tsan $(INSTRUMENTED) -DHEARTH_TSAN=ON -DHEARTH_AVX512=OFF >/dev/null
	cmake --build $(BUILD)-tsan -j$(JOBS) --target runtime_tests
	cd $(BUILD)-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  HEARTH_NODE_DIR=$(abspath $(NODE_DIR)) ./bin/runtime_tests --gtest_brief=1

# libFuzzer targets, each run for a short fixed time.
FUZZ_SECONDS ?= 20
fuzz: apt-deps
	cmake -S . -B $(BUILD)-asan $(SANITIZED) >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS) --target fuzzers
	./tools/run_fuzzers.sh $(BUILD)-asan $(FUZZ_SECONDS)

bench: build
	./$(BUILD)/bin/hearth_microbench

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
