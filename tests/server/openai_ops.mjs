// The official `openai` npm package against `hearth serve`'s operations: its RateLimitError and automatic retry
// honouring Retry-After from the per-key rate limit, its request id (x-request-id), the priority passed as an
// extra body field and as a header, and the key check.
// Usage: node openai_ops.mjs BASE_URL NODE_DIR CHAT_MODEL API_KEY   (the server runs --rate-limit 60 --rate-burst 1)
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const [baseURL, nodeDir, chatModel, apiKey] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const { OpenAI } = require('openai');
const noRetry = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

let checks = 0;
async function check(name, fn) {
  await fn();
  checks++;
  console.log(`ok ${name}`);
}

const chatRequest = (extra = {}) => ({
  model: chatModel,
  messages: [{ role: 'user', content: 'A story about a dog.' }],
  max_tokens: 4,
  seed: 3,
  ...extra,
});

await check('priority field and header, request id', async () => {
  const { data, response } = await noRetry.chat.completions
    .create(chatRequest({ priority: 'background' }), { headers: { 'X-Request-Id': 'js-req-1', 'X-Priority': 'background' } })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(response.headers.get('x-request-id'), 'js-req-1');
  assert.equal(data._request_id, 'js-req-1');
});

await check('rate limit: RateLimitError with Retry-After', async () => {
  await assert.rejects(() => noRetry.chat.completions.create(chatRequest()), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.equal(e.headers.get('retry-after'), '1');
    return true;
  });
});

await check('rate limit: the client retries after Retry-After and succeeds', async () => {
  const retrying = new OpenAI({ baseURL, apiKey, maxRetries: 3, timeout: 60000 });
  const start = Date.now();
  await assert.rejects(() => noRetry.chat.completions.create(chatRequest()), OpenAI.RateLimitError);
  const r = await retrying.chat.completions.create(chatRequest());
  assert.equal(r.object, 'chat.completion');
  assert.ok(Date.now() - start >= 500, 'answered before the bucket could refill');
});

await check('bad priority and wrong key', async () => {
  await new Promise((resolve) => setTimeout(resolve, 1100));  // a token for the next call
  await assert.rejects(() => noRetry.chat.completions.create(chatRequest({ priority: 'urgent' })), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'priority');
    return true;
  });
  const wrongKey = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
  await assert.rejects(() => wrongKey.models.list(), OpenAI.AuthenticationError);
});

console.log(`openai ops: all ${checks} checks passed`);
