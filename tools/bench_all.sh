#!/usr/bin/env bash
# End-to-end benchmarks behind docs/benchmarks.md, all in one run so that ratios compare like with like.
#   tools/bench_all.sh [BUILD_DIR] [THREADS]      (needs ../shared for the vocabularies and bench sentences)
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
HEARTH=$BUILD/bin/hearth
SHARED=${HEARTH_SHARED_DIR:-../shared}
OUT=${BENCH_DIR:-/tmp/hearth-bench}
mkdir -p "$OUT"
SENT=$SHARED/bench/sentences256.txt
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) threads=$THREADS"
for t in f16 q8_0; do
  m=$OUT/minilm-l6.$t.gguf
  [ -f "$m" ] || $HEARTH dev make-model --arch bert --preset minilm-l6 --type $t \
    --vocab "$SHARED/golden/tokenizer/ggml-vocab-bert-bge.gguf" -o "$m" >/dev/null
  echo "bench embed minilm-l6 $t: $($HEARTH bench embed -m "$m" --sentences "$SENT" --threads "$THREADS" --json)"
done
$HEARTH embed "convert the default model into the cache if needed" >/dev/null
use=$($HEARTH models list 2>/dev/null | awk '{for (i=1;i<=NF;i++) if ($i ~ /use-lite.*\.gguf$/) print $i}' | head -1)
echo "bench embed use-lite: $($HEARTH bench embed -m "$use" --sentences "$SENT" --threads "$THREADS" --json)"
if [ -d "$BUILD/node/node_modules" ]; then
  echo "use-lite npm WASM (1 thread):"; node bench/use/bench_wasm.js "$BUILD/node" "$SENT" 256
fi
# The USE latency target is for a sentence of about 16 tokens: the same sentences cut to their first 12 words.
SHORT=$OUT/sentences256.12words.txt
awk '{ line = $1; for (i = 2; i <= 12 && i <= NF; i++) line = line " " $i; print line }' "$SENT" > "$SHORT"
echo "bench embed use-lite, 12-word sentences: $($HEARTH bench embed -m "$use" --sentences "$SHORT" --threads "$THREADS" --json)"
if [ -d "$BUILD/node/node_modules" ]; then
  echo "use-lite npm WASM (1 thread), 12-word sentences:"; node bench/use/bench_wasm.js "$BUILD/node" "$SHORT" 256
fi
for t in f16 q8_0 q4_0 q4_k_m; do
  m=$OUT/llama-336m.$t.gguf
  [ -f "$m" ] || $HEARTH dev make-model --arch llama --preset llama-336m --type $t \
    --vocab "$SHARED/golden/tokenizer/ggml-vocab-llama-spm.gguf" -o "$m" >/dev/null
  echo "bench gen llama-336m $t: $($HEARTH bench gen -m "$m" -p 512 -n 128 -t "$THREADS" --json)"
done
