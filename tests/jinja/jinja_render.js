// Renders templates with @huggingface/jinja, the reference engine, for the parity tests.
// usage: node jinja_render.js NODE_MODULES_DIR CASES.json RESULTS.json
//   CASES:   [{"template": "...", "context": {...}}, ...]
//   RESULTS: [{"ok": true, "out": "..."} | {"ok": false, "error": "..."}, ...]
'use strict';
const fs = require('fs');
const path = require('path');

const { Template } = require(path.join(process.argv[2], '@huggingface', 'jinja'));
const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const results = cases.map((c) => {
  try {
    return { ok: true, out: new Template(c.template).render(c.context) };
  } catch (e) {
    return { ok: false, error: String((e && e.message) || e) };
  }
});
fs.writeFileSync(process.argv[4], JSON.stringify(results));
