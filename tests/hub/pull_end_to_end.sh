#!/usr/bin/env bash
# From the Hub to a run, as a user types it: a loopback Hub (build/bin/fake_hub) serving the shared stories260K,
# `hearth pull` by quant into a fresh hub cache, `hearth run -m OWNER/REPO:QUANT` on the pulled file, a second pull
# that downloads nothing, and `hearth models rm`. Exit 77 (skipped) without ../shared.
#   tests/hub/pull_end_to_end.sh BUILD_DIR SHARED_DIR
set -euo pipefail
build=$1 shared=$2
[ -f "$shared/models/stories260K.gguf" ] || { echo "skipped: $shared/models/stories260K.gguf not found"; exit 77; }
work=$(mktemp -d)
hub_pid=
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir "$work/repo"
cp "$shared/models/stories260K.gguf" "$work/repo/stories260K-F32.gguf"
"$build/bin/fake_hub" test/stories-GGUF="$work/repo" > "$work/hub.out" &
hub_pid=$!
for _ in $(seq 100); do grep -q listening "$work/hub.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/hub.out")
[ -n "$url" ] || { echo "the loopback Hub did not start"; exit 1; }
export HF_ENDPOINT=$url HF_HUB_CACHE=$work/cache HF_HOME=$work
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE
hearth=$build/bin/hearth

path=$("$hearth" pull test/stories-GGUF:f32)
cmp "$path" "$shared/models/stories260K.gguf"
out=$("$hearth" run -m test/stories-GGUF:F32 -p "Once upon a time" -n 12 --temp 0)
echo "$out"
# stories260K's greedy continuation, as llama.cpp gives it
case "$out" in *"there was a little girl"*) ;; *) echo "unexpected output"; exit 1 ;; esac
# Captured whole before matching: `grep -q` exits at its first match, and under pipefail the writer's SIGPIPE
# would fail the test whenever more output follows (a sanitizer's report, a slower run).
again=$("$hearth" pull test/stories-GGUF:F32 2>&1)
echo "$again"
case "$again" in *"up to date"*) ;; *) echo "the second pull did not say it was up to date"; exit 1 ;; esac
listed=$("$hearth" models list)
case "$listed" in *"test/stories-GGUF:F32"*) ;; *) echo "models list does not show the pulled model"; exit 1 ;; esac
"$hearth" models rm test/stories-GGUF
[ ! -e "$path" ]
echo "pull end to end: ok"
