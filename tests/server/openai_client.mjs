// The official `openai` npm package as the judge of `hearth serve`'s compatibility: every call goes through the
// client's own request building, response parsing, SSE reader and error classes.
// Usage: node openai_client.mjs BASE_URL NODE_DIR CHAT_MODEL EMBED_MODEL API_KEY
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const [baseURL, nodeDir, chatModel, embedModel, apiKey] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const { OpenAI } = require('openai');
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

await check('errors as APIError subclasses', async () => {
  await expectError(OpenAI.NotFoundError, 404, () => client.models.retrieve('no-such-model'));
  await expectError(OpenAI.NotFoundError, 404, () => client.chat.completions.create(chatRequest({ model: 'no-such-model' })));
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(chatRequest({ temperature: 'hot' })));
  await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create(chatRequest({ model: embedModel })));
  await expectError(OpenAI.BadRequestError, 400, () => client.embeddings.create({ model: chatModel, input: 'x' }));
  await expectError(OpenAI.BadRequestError, 400,
    () => client.embeddings.create({ model: embedModel, input: 'x', dimensions: 8 }));
  const wrongKey = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401, () => wrongKey.models.list());
});

console.log(`openai client: all ${checks} checks passed`);
