#!/usr/bin/env bash
# Soak test of `hearth serve` (not part of make test): mixed chat (plain and streamed), embeddings, and requests
# cancelled mid-stream, from several loopback clients at once, for SOAK_SECONDS (default 1800). The server's
# resident memory is sampled every 10 s; after the warm-up (the first 10 % of the run, at least 60 s) it must stay
# within 5 % of its value at the end of the warm-up, and every request that was not cancelled on purpose must
# succeed. Prints a summary; the samples go to $SOAK_DIR/rss.csv and the failures to $SOAK_DIR/failures.log.
#
#   tools/soak.sh [HEARTH] [CHAT_MODEL] [EMBED_MODEL]
# Defaults: build/bin/hearth, ../shared/models/stories260K.gguf, ../shared/golden/models/bert-dev.f16.gguf.
# Exit status 0 when both conditions hold, 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HEARTH_SHARED_DIR:-$root/../shared}
hearth=${1:-$root/build/bin/hearth}
chat_model=${2:-$shared/models/stories260K.gguf}
embed_model=${3:-$shared/golden/models/bert-dev.f16.gguf}
seconds=${SOAK_SECONDS:-1800}
clients=${SOAK_CLIENTS:-4}
dir=${SOAK_DIR:-$(mktemp -d /tmp/hearth-soak.XXXXXX)}
mkdir -p "$dir"
warmup=$(( seconds / 10 > 60 ? seconds / 10 : 60 ))

"$hearth" serve --port 0 -m chat="$chat_model" -m embed="$embed_model" --parallel 4 >"$dir/stdout" 2>"$dir/server.log" &
server=$!
stop_all() {
  kill $(jobs -p) 2>/dev/null || true
  kill -TERM "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop_all EXIT
for _ in $(seq 1 600); do
  grep -q "listening on" "$dir/stdout" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$dir/stdout")
[ -n "$url" ] || { echo "soak: the server did not start (see $dir/server.log)"; exit 1; }
echo "soak: $hearth serve at $url, $clients clients of each kind, $seconds s (warm-up $warmup s), records in $dir"

deadline=$(( $(date +%s) + seconds ))
: >"$dir/failures.log"
: >"$dir/counts"

# One client kind: a loop of requests until the deadline; every non-2xx status is a failure, written down.
client() {
  local kind=$1 n=0 seed=$RANDOM
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$((n + 1))
    seed=$((seed + 1))
    case $kind in
      chat)
        body="{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell a story $n\"}],\"max_tokens\":64,\"seed\":$seed}"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 -H 'Content-Type: application/json' -d "$body" "$url/v1/chat/completions" || echo 000)
        ;;
      stream)
        body="{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"A poem $n\"}],\"max_tokens\":64,\"seed\":$seed,\"stream\":true}"
        out=$(curl -sN --max-time 120 -H 'Content-Type: application/json' -d "$body" "$url/v1/chat/completions" || true)
        case $out in *"data: [DONE]"*) code=200 ;; *) code=stream-unfinished ;; esac
        ;;
      embed)
        body="{\"model\":\"embed\",\"input\":[\"sentence number $n\",\"and another one, $seed\"]}"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' -d "$body" "$url/v1/embeddings" || echo 000)
        ;;
      cancel)
        # A long stream dropped after 0.2 s: the server must cancel it and go on.
        body="{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"Go on $n\"}],\"max_tokens\":2000,\"seed\":$seed,\"stream\":true}"
        curl -sN --max-time 0.2 -o /dev/null -H 'Content-Type: application/json' -d "$body" "$url/v1/chat/completions" || true
        code=200
        ;;
    esac
    case $code in
      2??) ;;
      *) echo "$(date +%s) $kind request $n: $code" >>"$dir/failures.log" ;;
    esac
  done
  echo "$kind $n" >>"$dir/counts"
}

for kind in chat stream embed cancel; do
  for _ in $(seq 1 "$clients"); do client "$kind" & done
done

echo "seconds,rss_kib" >"$dir/rss.csv"
start=$(date +%s)
while [ "$(date +%s)" -lt "$deadline" ]; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
  echo "$(( $(date +%s) - start )),$rss" >>"$dir/rss.csv"
  sleep 10
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true

baseline=$(awk -F, -v w="$warmup" 'NR > 1 && $1 >= w {print $2; exit}' "$dir/rss.csv")
peak=$(awk -F, -v w="$warmup" 'NR > 1 && $1 >= w && $2 > m {m = $2} END {print m + 0}' "$dir/rss.csv")
low=$(awk -F, -v w="$warmup" 'NR > 1 && $1 >= w && (m == "" || $2 < m) {m = $2} END {print m + 0}' "$dir/rss.csv")
failures=$(wc -l <"$dir/failures.log")
requests=$(awk '{s += $2} END {print s + 0}' "$dir/counts")
alive=yes
kill -0 "$server" 2>/dev/null || alive=no
echo "soak: $requests requests ($(tr '\n' ' ' <"$dir/counts")), $failures failed, server alive: $alive"
echo "soak: resident memory after warm-up ${baseline:-?} KiB, then between $low and $peak KiB"
ok=1
[ "$failures" -eq 0 ] || ok=0
[ "$alive" = yes ] || ok=0
if [ -n "${baseline:-}" ] && [ "$baseline" -gt 0 ]; then
  awk -v b="$baseline" -v p="$peak" -v l="$low" 'BEGIN {exit !(p <= b * 1.05 && l >= b * 0.95)}' || ok=0
else
  ok=0
fi
[ $ok -eq 1 ] && echo "soak: PASS (memory flat within 5 %, no failed request)" || echo "soak: FAIL"
[ $ok -eq 1 ]
