// Validates generated outputs against their JSON schemas with ajv (+ ajv-formats), the independent reference
// for the structured-output tests. Input: a JSON file [{name, schema, outputs: [text, ...]}, ...]. Prints one
// line per output that does not parse or does not validate, and a summary; exits 1 if there was any.
// The packages are resolved through NODE_PATH (the build's node_modules).
const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let checked = 0, failed = 0;
for (const c of cases) {
  const ajv = new Ajv2020({strict: false, allErrors: true});
  addFormats(ajv);
  const validate = ajv.compile(c.schema);
  for (const text of c.outputs) {
    ++checked;
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      ++failed;
      console.log(`${c.name}: does not parse (${e.message}): ${JSON.stringify(text)}`);
      continue;
    }
    if (!validate(value)) {
      ++failed;
      console.log(`${c.name}: invalid ${JSON.stringify(text)}: ${ajv.errorsText(validate.errors)}`);
    }
  }
}
console.log(`ajv: ${checked - failed} of ${checked} outputs valid`);
process.exit(failed ? 1 : 0);
