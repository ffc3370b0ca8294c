// The chat page of `hearth serve` (docs/server.md, "Web page"). Plain DOM and fetch, no framework and no build
// step. Whatever a model or the server writes reaches the page only as text nodes (textContent, never innerHTML),
// so an answer cannot inject markup; the Content-Security-Policy forbids inline script besides.

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'),
  indexField: $('index-field'),
  index: $('index'),
  indexPanel: $('index-panel'),
  indexSummary: $('index-summary'),
  indexProgress: $('index-progress'),
  indexProgressText: $('index-progress-text'),
  conversation: $('conversation'),
  main: $('main'),
  error: $('error'),
  composer: $('composer'),
  prompt: $('prompt'),
  maxTokens: $('max-tokens'),
  send: $('send'),
  stop: $('stop'),
  newChat: $('new-chat'),
  keyButton: $('key-button'),
  keyDialog: $('key-dialog'),
  keyReason: $('key-reason'),
  keyInput: $('key-input'),
};

const STORAGE_KEY = 'hearth.apiKey';
const STORAGE_MODEL = 'hearth.model';
const INDEX_POLL_MS = 2000;

let apiKey = localStorage.getItem(STORAGE_KEY) || '';
let history = [];      // the conversation as the API takes it: {role, content}
let running = null;    // the AbortController of the answer being streamed

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---- small DOM helpers ----

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

// ---- the API ----

// An OpenAI-style error body's message, or what the response was when it is not one.
async function errorMessage(res) {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body?.error?.message) return body.error.message;
  } catch { /* not JSON: said below */ }
  return `HTTP ${res.status}${text ? `: ${text.slice(0, 300)}` : ''}`;
}

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (apiKey) headers.set('Authorization', `Bearer ${apiKey}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) throw new ApiError(res.status, await errorMessage(res));
  return res;
}

// Server-sent events from a fetch body: each event's data (its data: lines joined), parsed as JSON. A read may
// end anywhere, inside a line or a UTF-8 sequence, so text is decoded in streaming mode and the last, unfinished
// line waits for the next read. Ends at [DONE]; a body that ends without it is an error (the server went away).
async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      const lines = buffer.split('\n');
      buffer = done ? '' : lines.pop();
      for (let line of lines) {
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {  // a blank line ends an event
          if (data.length) {
            const payload = data.join('\n');
            data = [];
            if (payload === '[DONE]') return;
            yield JSON.parse(payload);
          }
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
      }
      if (done) {
        if (data.length && data.join('\n') === '[DONE]') return;
        throw new ApiError(0, 'the answer ended early: the connection closed before [DONE]');
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// ---- the API key ----

function askKey(reason) {
  ui.keyReason.textContent = reason || '';
  ui.keyInput.value = apiKey;
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
  ui.keyInput.focus();
}

ui.keyButton.addEventListener('click', () => askKey(''));
ui.keyDialog.addEventListener('close', () => {
  const choice = ui.keyDialog.returnValue;
  if (choice !== 'save' && choice !== 'forget') return;
  apiKey = choice === 'save' ? ui.keyInput.value.trim() : '';
  if (apiKey) localStorage.setItem(STORAGE_KEY, apiKey);
  else localStorage.removeItem(STORAGE_KEY);
  clearError();
  loadModels();
  startIndexPolling();
});

// Handles a failed call the same way everywhere: a 401 asks for the key, the message is shown.
function reportFailure(err, what) {
  const message = `${what}: ${err.message}`;
  showError(message);
  if (err instanceof ApiError && err.status === 401) askKey(err.message);
}

// ---- models ----

// The default model is a text model: /v1/models has no kinds, so ids that name an encoder are passed over (a
// server that lists kinds or roles is believed instead).
const ENCODER_NAME = /embed|rerank|bge|minilm|bert|(^|[-_])e5([-_]|$)|gte-|nomic/i;
function looksLikeChatModel(m) {
  if (typeof m.kind === 'string') return m.kind === 'text';
  if (Array.isArray(m.roles) && m.roles.length) return m.roles.includes('chat');
  return !ENCODER_NAME.test(m.id);
}

async function loadModels() {
  let list;
  try {
    list = (await (await api('/v1/models')).json()).data ?? [];
  } catch (err) {
    reportFailure(err, 'Cannot list the models');
    return;
  }
  const wanted = ui.model.value || localStorage.getItem(STORAGE_MODEL);
  ui.model.replaceChildren(...list.map((m) => new Option(m.id, m.id)));
  const pick = list.find((m) => m.id === wanted) ?? list.find(looksLikeChatModel) ?? list[0];
  if (pick) ui.model.value = pick.id;
  else showError('The server has no models (start it with -m MODEL).');
}

ui.model.addEventListener('change', () => localStorage.setItem(STORAGE_MODEL, ui.model.value));

// ---- indexes (the context engine) ----

let indexTimer = 0;
let indexPolling = false;
let indexChosen = false;  // the user's (or the first status's) choice is not overridden later

function hideIndexes() {
  ui.indexPanel.hidden = true;
  ui.indexField.hidden = true;
  ui.index.value = '';
}

function indexesOf(status) {
  if (Array.isArray(status?.indexes)) return status.indexes;
  return status && typeof status === 'object' && 'index' in status ? [status] : [];
}

function showIndexes(indexes) {
  if (!indexes.length) {
    hideIndexes();
    return;
  }
  const names = indexes.map((i) => String(i.index));
  const current = ui.index.value;
  ui.index.replaceChildren(new Option('none', ''), ...names.map((n) => new Option(n, n)));
  if (!indexChosen) {
    ui.index.value = names[0];
    indexChosen = true;
  } else {
    ui.index.value = names.includes(current) ? current : '';
  }
  ui.indexField.hidden = false;

  const shown = indexes.find((i) => String(i.index) === ui.index.value) ?? indexes[0];
  const parts = [`${shown.index}: ${shown.files ?? 0} files`, `${shown.chunks ?? 0} chunks`, `${shown.pending ?? 0} pending`];
  if (shown.failed) parts.push(`${shown.failed} failed`);
  if (shown.skipped) parts.push(`${shown.skipped} skipped`);
  if (shown.model?.name) parts.push(`model ${shown.model.name}`);
  ui.indexSummary.textContent = parts.join(' · ');

  const p = shown.progress;
  const active = p && p.state && p.state !== 'idle';
  ui.indexProgress.hidden = !active;
  if (active) {
    const total = Math.max(Number(p.total) || 0, 0);
    if (total > 0) {
      ui.indexProgress.max = total;
      ui.indexProgress.value = Math.min(Number(p.done) || 0, total);
    } else {
      ui.indexProgress.removeAttribute('value');  // indeterminate while the total is unknown
    }
    const detail = [`${p.state} ${p.done ?? 0}/${total || '?'}`];
    if (p.files_per_s) detail.push(`${Number(p.files_per_s).toFixed(1)} files/s`);
    if (p.eta_s != null) detail.push(`about ${Math.ceil(p.eta_s)} s left`);
    ui.indexProgressText.textContent = detail.join(' · ');
  } else {
    ui.indexProgressText.textContent = '';
  }
  ui.indexPanel.hidden = false;
}

// Polled while the page is visible. A server without an index (404), or whose admin routes need another key
// (401, 403), simply has no index panel: that is not an error to show.
async function pollIndexes() {
  clearTimeout(indexTimer);
  if (!indexPolling || document.visibilityState !== 'visible') return;
  try {
    const res = await api('/admin/index/status');
    showIndexes(indexesOf(await res.json()));
  } catch (err) {
    if (err instanceof ApiError && [401, 403, 404].includes(err.status)) {
      hideIndexes();
      indexPolling = false;
      return;
    }
    // Anything else (the server restarting) keeps the last view and tries again.
  }
  if (indexPolling) indexTimer = setTimeout(pollIndexes, INDEX_POLL_MS);
}

function startIndexPolling() {
  indexPolling = true;
  pollIndexes();
}

ui.index.addEventListener('change', () => {
  indexChosen = true;
  pollIndexes();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') pollIndexes();
});

// ---- the conversation ----

// Text with ``` fences: the fenced lines become <pre><code>, the rest paragraphs (white-space kept by CSS).
function renderText(container, text) {
  const blocks = [];
  let lines = [];
  let fenced = false;
  const flush = () => {
    if (fenced) {
      const pre = element('pre');
      pre.append(element('code', null, lines.join('\n')));
      blocks.push(pre);
    } else if (lines.some((l) => l.trim() !== '')) {
      blocks.push(element('p', null, lines.join('\n').replace(/^\n+|\n+$/g, '')));
    }
    lines = [];
  };
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) {
      flush();
      fenced = !fenced;
    } else {
      lines.push(line);
    }
  }
  flush();
  container.replaceChildren(...blocks);
}

function addMessage(role, text) {
  const article = element('article', `message ${role}`);
  article.append(element('p', 'who', role === 'user' ? 'You' : 'Assistant'));
  const body = element('div', 'text');
  article.append(body);
  renderText(body, text);
  ui.conversation.append(article);
  scrollToEnd();
  return { article, body, status: null, sources: null };
}

function scrollToEnd() {
  ui.main.scrollTop = ui.main.scrollHeight;
}

function setStatus(bubble, state, text) {
  bubble.article.dataset.state = state;
  bubble.article.setAttribute('aria-busy', state === 'streaming' ? 'true' : 'false');
  if (!text) {
    bubble.status?.remove();
    bubble.status = null;
    return;
  }
  if (!bubble.status) {
    bubble.status = element('p', 'status');
    bubble.article.append(bubble.status);
  }
  bubble.status.textContent = text;
}

// The snippet with its marks ([start, end) in code points) as <mark> elements around text nodes.
function markedText(container, snippet, marks) {
  const chars = Array.from(snippet);
  let at = 0;
  const spans = (Array.isArray(marks) ? marks : [])
    .filter((m) => Array.isArray(m) && m.length >= 2)
    .map(([s, e]) => [Math.max(0, Math.min(chars.length, s | 0)), Math.max(0, Math.min(chars.length, e | 0))])
    .sort((a, b) => a[0] - b[0]);
  for (let [start, end] of spans) {
    start = Math.max(start, at);
    if (end <= start) continue;
    if (start > at) container.append(document.createTextNode(chars.slice(at, start).join('')));
    container.append(element('mark', null, chars.slice(start, end).join('')));
    at = end;
  }
  if (at < chars.length) container.append(document.createTextNode(chars.slice(at).join('')));
}

function lineRange(s) {
  const begin = Number(s.line_begin);
  const end = Number(s.line_end);
  if (!begin) return '';
  return end && end !== begin ? `:${begin}-${end}` : `:${begin}`;
}

function showSources(bubble, sources) {
  const box = element('section', 'sources-box');
  box.setAttribute('aria-label', 'Sources');
  box.append(element('p', 'who', 'Sources'));
  const list = element('ol', 'sources');
  sources.forEach((s, i) => {
    const item = element('li');
    const head = element('div', 'source-head');
    head.append(element('span', 'source-id', `[${s.id ?? i + 1}] `), element('code', 'source-path', `${s.path ?? ''}${lineRange(s)}`));
    if (s.title) head.append(element('span', 'source-title', ` — ${s.title}`));
    item.append(head);
    if (s.snippet) {
      const snippet = element('div', 'snippet');
      markedText(snippet, String(s.snippet), s.marks);
      item.append(snippet);
    }
    list.append(item);
  });
  box.append(list);
  bubble.sources = box;
  bubble.article.insertBefore(box, bubble.status);
}

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
}

async function send(text) {
  const model = ui.model.value;
  if (!model) {
    showError('No model to answer: the model list is empty or could not be loaded.');
    return;
  }
  clearError();
  const turns = history;  // "New chat" during the answer starts another list; this answer belongs to this one
  turns.push({ role: 'user', content: text });
  const question = addMessage('user', text);
  const bubble = addMessage('assistant', '');
  setStatus(bubble, 'streaming', '');
  const controller = new AbortController();
  running = controller;
  setBusy(true);

  const request = { model, messages: turns, stream: true };
  const maxTokens = parseInt(ui.maxTokens.value, 10);
  if (maxTokens > 0) request.max_tokens = maxTokens;
  if (ui.index.value && !ui.indexField.hidden) request.context = { index: ui.index.value };

  let answer = '';
  let finish = null;
  let renderPending = false;
  const render = () => {
    renderPending = false;
    renderText(bubble.body, answer);
    scrollToEnd();
  };
  const take = (event) => {
    if (event.error) throw new ApiError(0, event.error.message ?? JSON.stringify(event.error));
    if (Array.isArray(event.context_sources) && !bubble.sources) showSources(bubble, event.context_sources);
    const choice = event.choices?.[0];
    const piece = choice?.delta?.content ?? choice?.message?.content;
    if (piece) answer += piece;
    if (choice?.finish_reason) finish = choice.finish_reason;
  };

  try {
    const res = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
      signal: controller.signal,
    });
    if ((res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      for await (const event of sseEvents(res.body)) {
        take(event);
        // Many small chunks arrive between two frames: the bubble is drawn once per frame.
        if (!renderPending) {
          renderPending = true;
          requestAnimationFrame(render);
        }
      }
    } else {
      take(await res.json());
    }
    render();
    setStatus(bubble, 'done', finish === 'length' ? 'stopped at the token limit' : '');
  } catch (err) {
    render();
    if (err.name === 'AbortError') {
      setStatus(bubble, 'stopped', 'stopped');
    } else if (!answer && err instanceof ApiError && err.status > 0) {
      // Refused before any answer (no key, a bad request): the question goes back to the box to try again.
      question.article.remove();
      bubble.article.remove();
      turns.pop();
      if (!ui.prompt.value) ui.prompt.value = text;
      reportFailure(err, 'The request failed');
      return;
    } else {
      setStatus(bubble, 'error', `error: ${err.message}`);
    }
  } finally {
    if (running === controller) {
      running = null;
      setBusy(false);
    }
  }
  // A stopped or broken answer stays in the conversation as far as it went, so the turns keep alternating.
  turns.push({ role: 'assistant', content: answer });
}

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.prompt.value.trim();
  if (!text || running) return;
  ui.prompt.value = '';
  send(text);
  ui.prompt.focus();
});

ui.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

// Aborting the fetch closes the connection; the server cancels the generation when it sees that.
ui.stop.addEventListener('click', () => {
  running?.abort();
  ui.prompt.focus();
});

ui.newChat.addEventListener('click', () => {
  running?.abort();
  history = [];
  ui.conversation.replaceChildren();
  clearError();
  ui.prompt.focus();
});

loadModels();
startIndexPolling();
ui.prompt.focus();
