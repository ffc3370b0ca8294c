#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build (make fuzz) for a fixed time, each from its seed corpus.
#   tools/run_fuzzers.sh BUILD_DIR SECONDS
# Seeds: tests/fuzz/seeds/<format>/ (small valid files written by hearth's own writers), plus, for GGUF, the
# first 16 KiB of a few llama.cpp vocabulary files from ../shared when present (deep metadata, cut mid-array).
# The corpus grows in BUILD_DIR/fuzz-corpus/<format>; crash inputs land in BUILD_DIR/fuzz-artifacts/.
# Exit status: non-zero if any target crashed, leaked, timed out or is missing.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HEARTH_SHARED_DIR:-$root/../shared}

shopt -s nullglob
targets=("$build"/bin/*_fuzz)
if [ ${#targets[@]} -eq 0 ]; then
  echo "run_fuzzers: no *_fuzz programs in $build/bin (configure with -DHEARTH_FUZZ=ON, or run make fuzz)" >&2
  exit 1
fi

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
failed=()
for bin in "${targets[@]}"; do
  name=$(basename "$bin")
  format=${name%_fuzz}
  corpus="$build/fuzz-corpus/$format"
  mkdir -p "$corpus"
  if [ -d "$root/tests/fuzz/seeds/$format" ]; then
    cp -n "$root/tests/fuzz/seeds/$format"/* "$corpus"/ 2>/dev/null || true
  fi
  if [ "$format" = gguf ] && [ -d "$shared/golden/tokenizer" ]; then
    for v in bert-bge llama-spm gpt-2; do
      f="$shared/golden/tokenizer/ggml-vocab-$v.gguf"
      [ -f "$f" ] && head -c 16384 "$f" > "$corpus/head-$v.gguf"
    done
  fi
  echo "== $name: ${seconds}s, corpus $corpus ($(ls "$corpus" | wc -l) files)"
  if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" "$corpus" > "$build/$name.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/$name.log" | sed 's/^/   /' || true
  else
    echo "!! $name FAILED (log: $build/$name.log)"
    tail -n 40 "$build/$name.log"
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  # Repeated last, so that a log cut to its tail (a CI summary) still shows why each target failed.
  for name in "${failed[@]}"; do
    echo "== why $name failed:"
    grep -E "ERROR:|SUMMARY:|Test unit written|deadly signal|out-of-memory|timeout|leak" "$build/$name.log" | head -n 8
    grep -A12 -E "^==[0-9]+==ERROR" "$build/$name.log" | grep -E "^ +#[0-9]+ " | head -n 8
    # A small crash input in base64, so it can be replayed from the log alone.
    for a in "$artifacts/$name-"*; do
      if [ "$(stat -c %s "$a")" -le 3000 ]; then echo "input $(basename "$a") (base64): $(base64 -w0 "$a")"; fi
    done
  done
  echo "run_fuzzers: failing targets: ${failed[*]}" >&2
  exit 1
fi
echo "run_fuzzers: all ${#targets[@]} targets ran ${seconds}s without a crash"
