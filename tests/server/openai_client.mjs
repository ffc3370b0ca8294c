// The official `openai` npm package as the judge of `hearth serve`'s compatibility: every call goes through the
// client's own request building, response parsing, SSE reader and error classes.
// Usage: node openai_client.mjs BASE_URL NODE_DIR CHAT_MODEL EMBED_MODEL API_KEY SCHEMA_DIR
// SCHEMA_DIR: the structured-output corpus (tests/grammar/schemas), whose outputs ajv validates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [baseURL, nodeDir, chatModel, embedModel, apiKey, schemaDir] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const { OpenAI } = require('openai');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });

let checks = 0;
async function check(name, fn) {
  await fn();
  checks++;
  console.log(`ok ${name}`);
}

const chatRequest = (extra = {}) => ({
  model: chatModel,
  messages: [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'A story about a dog.' }],
  max_tokens: 30,
  temperature: 0.9,
  seed: 11,
  ...extra,
});

async function expectError(cls, status, fn) {
  await assert.rejects(fn, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.status, status);
    return true;
  });
}

await check('models list and retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), [chatModel, embedModel].sort());
  assert.equal((await client.models.retrieve(chatModel)).id, chatModel);
});

let plainText;
await check('chat', async () => {
  const r = await client.chat.completions.create(chatRequest());
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  plainText = r.choices[0].message.content;
  assert.ok(plainText.length > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await check('chat streamed equals chat', async () => {
  const stream = await client.chat.completions.create(
    chatRequest({ stream: true, stream_options: { include_usage: true } }));
  let text = '', finish = null, usage = null, role = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, plainText);
  assert.ok(finish === 'stop' || finish === 'length');
  assert.ok(usage && usage.completion_tokens > 0);
});

await check('n = 2', async () => {
  const r = await client.chat.completions.create(chatRequest({ n: 2 }));
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.choices[0].message.content, plainText);  // choice 0 has the request's own seed
});

await check('logprobs', async () => {
  const r = await client.chat.completions.create(chatRequest({ max_tokens: 4, logprobs: true, top_logprobs: 2 }));
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
  }
  const stream = await client.chat.completions.create(
    chatRequest({ max_tokens: 4, logprobs: true, top_logprobs: 2, stream: true }));
  const streamed = [];
  for await (const chunk of stream) for (const c of chunk.choices) streamed.push(...(c.logprobs?.content ?? []));
  assert.deepEqual(streamed, content);
});

await check('completions', async () => {
  const r = await client.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.length > 0);
  const s = await client.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of s) for (const c of chunk.choices) text += c.text;
  assert.equal(text, r.choices[0].text);
});

await check('embeddings float and base64', async () => {
  const input = ['the quick brown fox', 'jumps over the lazy dog'];
  const f = await client.embeddings.create({ model: embedModel, input, encoding_format: 'float' });
  // Without encoding_format the client asks for base64 itself and decodes the float32 bytes.
  const b = await client.embeddings.create({ model: embedModel, input });
  assert.equal(f.data.length, 2);
  assert.ok(f.usage.prompt_tokens > 0);
  for (let i = 0; i < 2; i++) {
    assert.equal(b.data[i].embedding.length, f.data[i].embedding.length);
    f.data[i].embedding.forEach((x, k) => assert.equal(Math.fround(x), b.data[i].embedding[k]));
  }
});

await check('embeddings dimensions: truncated and renormalised (the server names the model Matryoshka)', async () => {
  const full = (await client.embeddings.create({ model: embedModel, input: 'the quick brown fox', encoding_format: 'float' })).data[0].embedding;
  const cut = (await client.embeddings.create({ model: embedModel, input: 'the quick brown fox', dimensions: 8, encoding_format: 'float' })).data[0].embedding;
  assert.equal(cut.length, 8);
  const norm = Math.hypot(...full.slice(0, 8));
  cut.forEach((x, k) => assert.ok(Math.abs(x - full[k] / norm) < 1e-6, `${x} vs ${full[k] / norm}`));
  assert.ok(Math.abs(Math.hypot(...cut) - 1) < 1e-5);
});

await check('errors as APIError subclasses', async () => {
  await expectError(OpenAI.NotFoundError, 404, () => client.models.retrieve('no-such-model'));
  await expectError(OpenAI.NotFoundError, 404, () => client.chat.completions.create(chatRequest({ model: 'no-such-model' })));
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(chatRequest({ temperature: 'hot' })));
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(chatRequest({ model: embedModel })));
  await expectError(OpenAI.BadRequestError, 400, () => client.embeddings.create({ model: chatModel, input: 'x' }));
  await expectError(OpenAI.BadRequestError, 400,
    () => client.embeddings.create({ model: embedModel, input: 'x', dimensions: 100000 }));
  const wrongKey = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401, () => wrongKey.models.list());
});

await check(`response_format json_schema: the corpus validates with ajv`, async () => {
  const files = fs.readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 30);
  let valid = 0;
  for (const f of files) {
    const schema = JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8'));
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create(chatRequest({
        seed, max_tokens: 1500, temperature: 0.7, json_bounds: { max_string_length: 24, max_items: 4 },
        response_format: { type: 'json_schema', json_schema: { name: f.replace('.json', ''), schema, strict: true } },
      }));
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop', `${f} seed ${seed}: cut at max_tokens: ${c.message.content}`);
      const value = JSON.parse(c.message.content);
      assert.ok(validate(value), `${f} seed ${seed}: ${c.message.content}: ${ajv.errorsText(validate.errors)}`);
      valid++;
    }
  }
  assert.equal(valid, 2 * files.length);
});

await check('response_format json_object, grammar, and refusals naming the keyword', async () => {
  const obj = await client.chat.completions.create(chatRequest({
    max_tokens: 1500, response_format: { type: 'json_object' }, json_bounds: { max_string_length: 24, max_items: 4 } }));
  const v = JSON.parse(obj.choices[0].message.content);
  assert.equal(typeof v, 'object');
  assert.ok(v !== null && !Array.isArray(v));
  const g = await client.chat.completions.create(chatRequest({ grammar: 'root ::= ("yes" | "no") "!"' }));
  assert.match(g.choices[0].message.content, /^(yes|no)!$/);
  const streamed = await client.chat.completions.create(chatRequest({ grammar: 'root ::= ("yes" | "no") "!"', stream: true }));
  let text = '';
  for await (const chunk of streamed) for (const c of chunk.choices) text += c.delta.content ?? '';
  assert.equal(text, g.choices[0].message.content);
  await assert.rejects(
    () => client.chat.completions.create(chatRequest({
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } } })),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format' && /pattern/.test(e.message));
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(chatRequest({ grammar: 'root ::= "a' })));
});

await check('logit_bias', async () => {
  const greedy = chatRequest({ temperature: 0, max_tokens: 6, logprobs: true, top_logprobs: 1 });
  const base = await client.chat.completions.create(greedy);
  // +100 on one token makes it the choice at every step; the log-probabilities stay the model's own (< 0, not
  // the biased distribution's ~0), and a token id outside the vocabulary is refused.
  const forced = await client.chat.completions.create({ ...greedy, logit_bias: { 300: 100 } });
  const tokens = forced.choices[0].logprobs.content;
  assert.equal(tokens.length, 6);
  assert.ok(tokens.every((t) => t.token === tokens[0].token));
  assert.notDeepEqual(tokens.map((t) => t.token), base.choices[0].logprobs.content.map((t) => t.token));
  assert.ok(tokens.some((t) => t.logprob < -1));
  await expectError(OpenAI.BadRequestError, 400,
    () => client.chat.completions.create({ ...greedy, logit_bias: { '99999999': 5 } }));
});

const weatherTools = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'], additionalProperties: false } } },
  { type: 'function', function: { name: 'get_time', description: 'Local time in a time zone',
    parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 10 } }, required: ['tz'] } } },
];
const toolRequest = (extra = {}) => chatRequest({
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: weatherTools, max_tokens: 1000, ...extra });

// Streamed tool-call deltas reassembled as the openai client documents it: by index, arguments concatenated.
async function streamedCalls(request) {
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const calls = [];
  let content = '', finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      content += c.delta.content ?? '';
      for (const d of c.delta.tool_calls ?? []) {
        calls[d.index] ??= { id: '', name: '', arguments: '' };
        if (d.id) calls[d.index].id = d.id;
        if (d.function?.name) calls[d.index].name += d.function.name;
        if (d.function?.arguments) calls[d.index].arguments += d.function.arguments;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { calls, content, finish };
}

await check('tool calls: required, named, streamed deltas reassemble to the same calls', async () => {
  const ajv = new Ajv2020({ strict: false });
  const validators = Object.fromEntries(weatherTools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
  for (const [choice, parallel] of [['required', false], ['required', true], [{ type: 'function', function: { name: 'get_time' } }, true]]) {
    const request = toolRequest({ tool_choice: choice, parallel_tool_calls: parallel });
    const r = await client.chat.completions.create(request);
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
    const calls = c.message.tool_calls;
    assert.ok(calls.length >= 1);
    if (!parallel) assert.equal(calls.length, 1);
    for (const call of calls) {
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
      if (typeof choice === 'object') assert.equal(call.function.name, 'get_time');
      const args = JSON.parse(call.function.arguments);
      assert.ok(validators[call.function.name](args), `${call.function.name} ${call.function.arguments}`);
    }
    const s = await streamedCalls(request);
    assert.equal(s.finish, 'tool_calls');
    assert.equal(s.content, c.message.content ?? '');
    assert.deepEqual(s.calls.map(({ name, arguments: a }) => ({ name, a })),
      calls.map((k) => ({ name: k.function.name, a: k.function.arguments })));
  }
});

await check('tool calls: auto and none answer, and tool results go back in', async () => {
  // A 260K-parameter story model rarely calls a tool on its own; either way the reply is well-formed and
  // the streamed one says the same.
  const auto = await client.chat.completions.create(toolRequest({ max_tokens: 40 }));
  const a = auto.choices[0];
  assert.ok(['stop', 'length', 'tool_calls'].includes(a.finish_reason));
  const s = await streamedCalls(toolRequest({ max_tokens: 40 }));
  assert.equal(s.content, a.message.content ?? '');
  assert.equal(s.calls.length, a.message.tool_calls?.length ?? 0);
  const none = await client.chat.completions.create(toolRequest({ max_tokens: 20, tool_choice: 'none' }));
  assert.equal(none.choices[0].message.tool_calls, undefined);
  const followUp = await client.chat.completions.create(chatRequest({
    tools: weatherTools, max_tokens: 10,
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }] },
      { role: 'tool', tool_call_id: 'call_abc', content: '{"temp": 21}' },
    ] }));
  assert.equal(followUp.choices.length, 1);
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(toolRequest({
    tool_choice: 'required', tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', not: {} } } }] })));
});

console.log(`openai client: all ${checks} checks passed`);
