// The web page of `hearth serve` in a real headless Chromium (playwright-core driving Debian's chromium): the real
// server answers every request, nothing is mocked.
// Usage: node web_ui.mjs URL NODE_DIR CHROMIUM MODEL [--api-key KEY] [--expect-source PATH_SUBSTRING]
//                        [--screenshot FILE.png]
// --api-key: the server wants this key; the page must ask for it (a 401), and work once it is given.
// --expect-source: an answer must cite a numbered source whose path contains PATH_SUBSTRING, with line numbers.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const [baseURL, nodeDir, chromiumPath, model, ...rest] = process.argv.slice(2);
const option = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const apiKey = option('--api-key');
const expectSource = option('--expect-source');
const screenshot = option('--screenshot');
const require = createRequire(nodeDir + '/');
const { chromium } = require('playwright-core');

const TOTAL_LIMIT_MS = 240000;
const ANSWER_LIMIT_MS = 60000;

let checks = 0;
async function check(name, fn) {
  await fn();
  checks++;
  console.log(`ok ${name}`);
}

async function waitFor(what, predicate, limitMs) {
  const end = Date.now() + limitMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let browser;
// A hung browser or server must not hang the suite: the whole run is bounded, and the browser closed either way.
const watchdog = setTimeout(() => {
  console.error(`web_ui.mjs: gave up after ${TOTAL_LIMIT_MS} ms`);
  Promise.resolve(browser?.close()).finally(() => process.exit(3));
}, TOTAL_LIMIT_MS);

// The browser itself logs every 4xx answer to a fetch as a console error. The ones this run must cause are
// expected: the index status a server without an index answers 404, and the 401s before the key is given.
const expectedNetworkErrors = [
  ...(expectSource ? [] : [/status of 404 .*\/admin\/index\/status\)$/]),
  ...(apiKey ? [/status of 401 .*\/(v1\/models|admin\/index\/status)\)$/] : []),
];
const consoleErrors = [];
const chatBodies = [];
try {
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    const text = `${m.text()} (${m.location().url})`;
    if (m.type() === 'error' && !expectedNetworkErrors.some((e) => e.test(text))) consoleErrors.push(text);
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions') && r.method() === 'POST') chatBodies.push(JSON.parse(r.postData()));
  });

  const assistantBubbles = page.locator('.message.assistant');
  const lastAnswer = () => assistantBubbles.last();
  const answerLength = async () => ((await lastAnswer().locator('.text').textContent()) ?? '').length;
  const answerState = () => lastAnswer().getAttribute('data-state');
  const readyForInput = async () => !(await page.locator('#send').isDisabled()) && (await page.locator('#stop').isHidden());

  // Answers the server's own view: whether a model's engine still runs or queues anything.
  const engineBusy = async () => {
    const res = await fetch(new URL('/admin/status', baseURL), { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} });
    assert.equal(res.status, 200, 'GET /admin/status');
    const status = await res.json();
    return status.models.some((m) => m.engine && (m.engine.slots_in_use > 0 || m.engine.queued > 0));
  };

  await page.goto(baseURL, { waitUntil: 'load' });

  if (apiKey) {
    await check('a 401 asks for the API key, and the key opens the API', async () => {
      await page.locator('#key-dialog').waitFor({ state: 'visible', timeout: 10000 });
      assert.match(await page.locator('#key-reason').textContent(), /API key/i);
      await page.locator('#key-input').fill(apiKey);
      await page.locator('#key-save').click();
      await page.locator('#key-dialog').waitFor({ state: 'hidden', timeout: 5000 });
      assert.equal(await page.evaluate(() => localStorage.getItem('hearth.apiKey')), apiKey);
    });
  }

  await check('the model picker lists the model', async () => {
    await page.locator(`#model option[value="${model}"]`).waitFor({ state: 'attached', timeout: 15000 });
    assert.equal(await page.locator('#model').inputValue(), model);
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent());
  });

  await check('the index panel matches the server', async () => {
    if (expectSource) {
      await page.locator('#index-field').waitFor({ state: 'visible', timeout: 10000 });
      assert.notEqual(await page.locator('#index').inputValue(), '', 'an index is used by default');
      assert.equal(await page.locator('#index-panel').isVisible(), true);
    } else {
      // No index endpoint on this server: the panel stays hidden, and polling it shows no error.
      await page.waitForTimeout(2500);
      assert.equal(await page.locator('#index-field').isHidden(), true);
      assert.equal(await page.locator('#index-panel').isHidden(), true);
      assert.equal(await page.locator('#error').isHidden(), true);
    }
  });

  const firstQuestion = 'Tell me a story about a <b>cat</b> & a dog.';  // markup stays text
  await check('a message sent with Enter streams an answer to its end', async () => {
    await page.locator('#max-tokens').fill('24');
    await page.locator('#prompt').fill(firstQuestion);
    await page.locator('#prompt').press('Enter');
    assert.equal(await page.locator('#prompt').inputValue(), '', 'the box is emptied');
    assert.equal(await page.locator('.message.user .text').last().textContent(), firstQuestion);
    assert.equal(await page.locator('.message b').count(), 0, 'the markup is not parsed');
    await waitFor('streamed text in the answer', answerLength, ANSWER_LIMIT_MS);
    await waitFor('the end of the answer', async () => (await answerState()) === 'done', ANSWER_LIMIT_MS);
    assert.ok(await readyForInput(), 'Send is enabled and Stop hidden again');
    assert.equal(chatBodies.length, 1);
    const body = chatBodies[0];
    assert.equal(body.model, model);
    assert.equal(body.stream, true);
    assert.equal(body.max_tokens, 24);
    assert.deepEqual(body.messages, [{ role: 'user', content: firstQuestion }]);
    assert.equal('context' in body, Boolean(expectSource));
  });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  await check('Shift+Enter starts a new line instead of sending', async () => {
    await page.locator('#prompt').fill('First line');
    await page.locator('#prompt').press('Shift+Enter');
    await page.locator('#prompt').pressSequentially('second line');
    assert.equal(await page.locator('#prompt').inputValue(), 'First line\nsecond line');
    assert.equal(await page.locator('.message.user').count(), 1);
  });

  await check('Stop ends a long answer: the text stops growing, the UI is ready, the server cancels', async () => {
    const firstAnswer = (await lastAnswer().locator('.text').textContent()).replace(/\s+/g, ' ').trim();
    await page.locator('#max-tokens').fill('100000');
    await page.locator('#prompt').press('Enter');
    await waitFor('a second answer', async () => (await assistantBubbles.count()) === 2, 5000);
    await waitFor('the long answer streaming', async () => (await answerLength()) > 40, ANSWER_LIMIT_MS);
    assert.equal(await answerState(), 'streaming', 'still streaming when Stop is pressed');
    assert.equal(await page.locator('#stop').isVisible(), true);
    assert.equal(await page.locator('#send').isDisabled(), true);
    await page.locator('#stop').click();
    await waitFor('the answer marked stopped', async () => (await answerState()) === 'stopped', 10000);
    const stoppedAt = await answerLength();
    await page.waitForTimeout(1500);
    assert.equal(await answerLength(), stoppedAt, 'no text arrives after Stop');
    assert.ok(await readyForInput(), 'Send is enabled and Stop hidden again');
    await waitFor('the server to cancel the generation', async () => !(await engineBusy()), 10000);

    // The conversation went with the request: the first turn and its answer, then the new question.
    const body = chatBodies[1];
    assert.deepEqual(body.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(body.messages[1].content.replace(/\s+/g, ' ').trim(), firstAnswer);
    assert.equal(body.messages[2].content, 'First line\nsecond line');
    assert.equal(body.max_tokens, 100000);
  });

  await check('New chat empties the conversation', async () => {
    await page.locator('#new-chat').click();
    assert.equal(await page.locator('.message').count(), 0);
  });

  if (expectSource) {
    await check(`an answer cites a source in ${expectSource} with its lines`, async () => {
      await page.locator('#max-tokens').fill('16');
      await page.locator('#prompt').fill('What does the documentation say?');
      await page.locator('#prompt').press('Enter');
      await waitFor('the end of the answer', async () => (await answerState()) === 'done', ANSWER_LIMIT_MS);
      const sources = await lastAnswer().locator('.sources li .source-head').allTextContents();
      const wanted = new RegExp(`^\\[\\d+\\] .*${expectSource.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*:\\d+(-\\d+)?`);
      assert.ok(sources.some((s) => wanted.test(s)), `no source like ${wanted} in ${JSON.stringify(sources)}`);
      assert.ok(chatBodies.at(-1).context?.index, 'the request names the index');
    });
  }

  await check('no console errors', async () => {
    assert.deepEqual(consoleErrors, []);
  });
  console.log(`${checks} web page checks passed`);
} catch (err) {
  console.error(err?.stack ?? String(err));
  if (consoleErrors.length) console.error(`console errors: ${JSON.stringify(consoleErrors)}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
  clearTimeout(watchdog);
}
