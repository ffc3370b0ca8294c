#!/usr/bin/env bash
# Semantic search with the default embedding model (Universal Sentence Encoder lite, converted from its npm
# package on first use): embeds a small corpus, then ranks it against a few questions by cosine similarity; then
# the context engine: indexes hearth's own docs/ and searches them (hybrid: vectors + BM25).
#   tools/demo.sh BUILD_DIR        (run by `make demo`)
set -euo pipefail
BUILD=${1:-build}
HEARTH="$BUILD/bin/hearth"
[ -x "$HEARTH" ] || { echo "demo: $HEARTH not found (build first: make build)" >&2; exit 1; }
# The npm package lives beside the build (make deps); hearth also finds it there on its own.
export HEARTH_NODE_DIR=${HEARTH_NODE_DIR:-$BUILD/node}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/corpus.txt" <<'TEXT'
The Eiffel Tower is the most visited monument in Paris.
Mount Everest is the highest mountain above sea level.
The Great Barrier Reef lies off the coast of Queensland, Australia.
Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.
Vaccines train the immune system to recognise a virus before an infection.
Drinking enough water helps the body regulate its temperature.
A balanced diet includes vegetables, fruit, grains and protein.
Interest rates were raised again to bring inflation down.
The stock market fell sharply after the disappointing earnings report.
Saving a little every month is the easiest way to build an emergency fund.
Python is a popular programming language for data science.
Restart the router if the wifi connection keeps dropping.
Use a password manager so that every account has a unique password.
The recipe calls for two eggs, flour, sugar and a pinch of salt.
Let the bread dough rise for an hour in a warm place.
The home team won the championship after extra time.
She ran the marathon in just under three hours.
My cat sleeps on the windowsill all afternoon.
Dogs need daily walks and plenty of attention.
The train to the airport leaves every fifteen minutes.
TEXT

cat > "$tmp/queries.txt" <<'TEXT'
How do I fix my internet connection?
Which landmark should I see in France?
What should I eat to stay healthy?
How can I protect my online accounts?
TEXT

start=$(date +%s%N)
"$HEARTH" embed < "$tmp/corpus.txt" > "$tmp/corpus.jsonl"
"$HEARTH" embed < "$tmp/queries.txt" > "$tmp/queries.jsonl"
end=$(date +%s%N)
n_docs=$(wc -l < "$tmp/corpus.txt")
echo "Embedded $n_docs passages and $(wc -l < "$tmp/queries.txt") queries with the default model" \
     "in $(( (end - start) / 1000000 )) ms (including model load; first run also converts the model)."
echo

# The embeddings are unit length, so the dot product is the cosine similarity.
awk -v TOP=3 '
  function parse(line, v,   n, i, parts) {
    gsub(/[\[\] ]/, "", line); n = split(line, parts, ","); for (i = 1; i <= n; i++) v[i] = parts[i] + 0; return n
  }
  FILENAME == ARGV[1] { docs[FNR] = $0; next }
  FILENAME == ARGV[2] { dim = parse($0, tmp); for (i = 1; i <= dim; i++) D[FNR, i] = tmp[i]; nd = FNR; next }
  FILENAME == ARGV[3] { queries[FNR] = $0; next }
  FILENAME == ARGV[4] {
    parse($0, q)
    for (d = 1; d <= nd; d++) { s = 0; for (i = 1; i <= dim; i++) s += q[i] * D[d, i]; score[d] = s; used[d] = 0 }
    printf "Q: %s\n", queries[FNR]
    for (k = 1; k <= TOP; k++) {
      best = 0
      for (d = 1; d <= nd; d++) if (!used[d] && (best == 0 || score[d] > score[best])) best = d
      used[best] = 1
      printf "   %.3f  %s\n", score[best], docs[best]
    }
    print ""
  }
' "$tmp/corpus.txt" "$tmp/corpus.jsonl" "$tmp/queries.txt" "$tmp/queries.jsonl"

echo "Indexing hearth's own documentation (docs/) into a temporary index, then searching it:"
"$HEARTH" index add "$(dirname "$0")/../docs" --data-dir "$tmp/data"
for q in "how does the server cancel a request when the client goes away" "kill -9 while indexing" \
         "which tokenizer does the default model use"; do
  echo
  echo "Q: $q"
  "$HEARTH" search "$q" -k 3 --data-dir "$tmp/data"
done
