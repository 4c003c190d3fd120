// agentchat's chat page: no build step, no dependencies.
//
// The transcript (GET /v1/chats/{id}) draws the conversation, then one EventSource on
// /v1/chats/{id}/events carries every turn live. Assistant messages are folded from the
// stream's envelopes the way agentchat's MessageBuilder folds them: keyed by the turn's
// messageId, parts tagged with their producer so a retried attempt replaces its own output.

const $ = (selector, root = document) => root.querySelector(selector);

// -- configuration from the URL ----------------------------------------------------------------

const params = new URLSearchParams(location.search);
let chatId = params.get('chat');
if (!chatId) {
  chatId = newChatId();
  params.set('chat', chatId);
  history.replaceState(null, '', `${location.pathname}?${params}${location.hash}`);
}
const token = params.get('token');
const urlAgent = params.get('agent');
let agent = urlAgent || document.body.dataset.agent || 'demo';

function newChatId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Non-secure contexts (plain http on a LAN address) have no randomUUID.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const base = `/v1/chats/${encodeURIComponent(chatId)}`;

// -- elements ----------------------------------------------------------------------------------

const els = {
  list: $('[data-testid="message-list"]'),
  scroller: $('[data-testid="scroller"]'),
  empty: $('[data-testid="empty-state"]'),
  emptyAgent: $('.empty-agent'),
  form: $('[data-testid="composer"]'),
  input: $('[data-testid="composer-input"]'),
  send: $('[data-testid="send-button"]'),
  steer: $('[data-testid="steer-button"]'),
  stop: $('[data-testid="stop-button"]'),
  hint: $('[data-testid="composer-hint"]'),
  banner: $('[data-testid="error-banner"]'),
  bannerType: $('.banner-type'),
  bannerMessage: $('.banner-message'),
  bannerClose: $('[data-testid="error-dismiss"]'),
  agentName: $('[data-testid="agent-name"]'),
  chatIdLabel: $('[data-testid="chat-id"]'),
  conn: $('[data-testid="connection"]'),
  connLabel: $('.conn-label'),
  newChat: $('[data-testid="new-chat"]'),
};

// -- state -------------------------------------------------------------------------------------

/** @type {Map<string, Msg>} every message on the page, by id */
const messages = new Map();
/** turn number -> assistant message id */
const turnMessages = new Map();
/** turns that started and have not ended */
const runningTurns = new Set();
/** steers this page sent, by message id: {text, injected, turnMessageId} */
const steers = new Map();
let awaitingTurn = false; // a message was sent and its turn has not started yet
let awaitingSince = 0;
let stopping = false;
let source = null;
let lastEventId = null; // newest cursor seen on the current EventSource
let resumeAfter = null; // the transcript's cursor
let chatKnown = false;
let retryDelay = 1000;
let reopenTimer = null;
let quietCloses = 0; // streams in a row that closed without delivering anything

class Msg {
  constructor(id, role) {
    this.id = id;
    this.role = role;
    this.parts = []; // [{producer, part}]
    this.status = role === 'assistant' ? 'streaming' : 'completed';
    this.error = null;
    this.pending = false;
    this.steer = false;
    this.attempts = new Map(); // producer -> newest attempt
    this.open = new Map(); // "text:<id>" -> part being streamed
    this.el = null;
  }

  setParts(parts) {
    this.parts = (parts || []).map((part) => ({ producer: '', part: structuredClone(part) }));
    this.attempts.clear();
    this.open.clear();
  }

  text() {
    return this.parts
      .filter(({ part }) => part.type === 'text')
      .map(({ part }) => part.text || '')
      .join('');
  }
}

// -- HTTP ----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError('NetworkError', `Could not reach the gateway (${err.message}).`, 0);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const e = data && data.error;
    throw new ApiError(
      (e && e.type) || `HTTP ${response.status}`,
      (e && e.message) || text.slice(0, 300) || response.statusText,
      response.status,
    );
  }
  return data;
}

function showError(err) {
  const type = err && err.type ? err.type : 'Error';
  const message = err && err.message ? err.message : String(err);
  els.bannerType.textContent = type;
  els.bannerMessage.textContent = message;
  els.banner.hidden = false;
}

function hideError() {
  els.banner.hidden = true;
}

els.bannerClose.addEventListener('click', hideError);

// -- loading -------------------------------------------------------------------------------------

async function load() {
  setConnection('connecting');
  let chat = null;
  try {
    chat = await api('GET', base);
  } catch (err) {
    if (err.status !== 404) showError(err);
  }
  if (chat) applyTranscript(chat);
  renderChrome();
  openEvents();
}

function chatRunning(chat) {
  const status = chat.status;
  if (status && typeof status === 'object') return status.active_turn != null;
  return ['running', 'active', 'busy', 'streaming'].includes(String(status || '').toLowerCase());
}

function applyTranscript(chat) {
  const list = Array.isArray(chat.messages) ? chat.messages : [];
  chatKnown = list.length > 0 || Boolean(chat.agent) || chatRunning(chat);
  if (!urlAgent && chat.agent) agent = chat.agent;
  resumeAfter = chat.resume_after || chat.resumeAfter || null;
  const running = chatRunning(chat);
  const order = [];
  let lastAssistant = null;
  for (const raw of list) {
    if (!raw || !raw.id || (raw.role !== 'user' && raw.role !== 'assistant')) continue;
    let msg = messages.get(raw.id);
    if (!msg) {
      msg = new Msg(raw.id, raw.role);
      messages.set(raw.id, msg);
    }
    msg.setParts(raw.parts);
    msg.pending = false;
    if (raw.role === 'assistant') {
      const meta = raw.metadata || {};
      msg.status = meta.status === 'stopped' || meta.status === 'failed' ? meta.status : 'completed';
      msg.error = meta.error || null;
      lastAssistant = msg;
    }
    order.push(msg);
  }
  if (running && lastAssistant && lastAssistant === order[order.length - 1]) {
    lastAssistant.status = 'streaming'; // the active turn: the stream will complete it
  }
  // Messages this page sent that the transcript does not have yet (queued) stay, after it.
  const inTranscript = new Set(order.map((m) => m.id));
  for (const msg of messages.values()) {
    if (!inTranscript.has(msg.id) && msg.role === 'user' && msg.pending) order.push(msg);
  }
  for (const [id, msg] of [...messages]) {
    if (!order.includes(msg)) {
      msg.el?.remove();
      messages.delete(id);
    }
  }
  for (const msg of order) {
    ensureElement(msg);
    els.list.appendChild(msg.el); // (re)order as the transcript says
    markDirty(msg);
  }
}

// -- the event stream ----------------------------------------------------------------------------

function eventsUrl(after) {
  const query = new URLSearchParams();
  if (after) query.set('after', after);
  if (token) query.set('token', token);
  const q = query.toString();
  return q ? `${base}/events?${q}` : `${base}/events`;
}

function openEvents(after = resumeAfter) {
  clearTimeout(reopenTimer);
  reopenTimer = null;
  if (source) source.close();
  lastEventId = null;
  setConnection('connecting');
  const es = new EventSource(eventsUrl(after));
  source = es;
  es.onopen = () => {
    if (source !== es) return;
    retryDelay = 1000;
    setConnection('open');
  };
  es.onmessage = (event) => {
    if (source !== es) return;
    quietCloses = 0;
    if (event.lastEventId) {
      if (lastEventId && compareIds(event.lastEventId, lastEventId) <= 0) return; // seen
      lastEventId = event.lastEventId;
    }
    let envelope;
    try {
      envelope = JSON.parse(event.data);
    } catch {
      return;
    }
    handleEnvelope(envelope);
  };
  es.onerror = () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setConnection('connecting'); // the browser retries with Last-Event-ID itself
      return;
    }
    // Closed for good: 204 (nothing to follow), or an HTTP error such as 410 or 503.
    es.close();
    source = null;
    resync();
  };
}

let resyncing = false;

/** After the stream closed: redraw from the transcript and follow on from its cursor. */
async function resync() {
  if (resyncing) return;
  resyncing = true;
  try {
    let chat = null;
    try {
      chat = await api('GET', base);
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        showError(err); // retrying cannot help: the credentials are wrong
        setConnection('closed');
        return;
      }
      if (err.status !== 404) {
        setConnection('offline');
        scheduleReopen();
        return;
      }
    }
    if (chat) {
      applyTranscript(chat);
      renderChrome();
    }
    const closed = chat && (chat.status === 'closed' || chat.status?.closed === true);
    if (closed) {
      runningTurns.clear();
      awaitingTurn = false;
      setConnection('closed');
      updateComposer();
      return;
    }
    if (!chat || !chatKnown) {
      // Nothing to follow yet; the first message reopens the stream.
      setConnection(awaitingTurn ? 'connecting' : 'idle');
      if (awaitingTurn) scheduleReopen('0-0');
      return;
    }
    if (!chatRunning(chat)) {
      runningTurns.clear();
      awaitingTurn = false;
      updateComposer();
      // An idle chat whose stream keeps closing at once (its run ended): wait for a message.
      quietCloses += 1;
      if (quietCloses >= 3) {
        setConnection('idle');
        return;
      }
    }
    scheduleReopen();
  } finally {
    resyncing = false;
  }
}

function scheduleReopen(after) {
  clearTimeout(reopenTimer);
  const delay = retryDelay;
  retryDelay = Math.min(retryDelay * 2, 10000);
  reopenTimer = setTimeout(() => openEvents(after ?? resumeAfter), delay);
}

function compareIds(a, b) {
  const [am, as] = a.split('-').map((x) => BigInt(x || 0));
  const [bm, bs] = b.split('-').map((x) => BigInt(x || 0));
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

function handleEnvelope(env) {
  if (!env || typeof env !== 'object') return;
  chatKnown = true;
  switch (env.k) {
    case 'turn-start':
      onTurnStart(env);
      break;
    case 'chunk':
      onChunk(env);
      break;
    case 'attempt-start':
      onAttemptStart(env);
      break;
    case 'input':
      onInput(env);
      break;
    case 'turn-end':
      onTurnEnd(env.turn, env.status || 'completed', env.error || env.errorText);
      break;
    case 'settled':
      onSettled(env);
      break;
    case 'resync':
      // The stream no longer holds what we missed: redraw from the transcript.
      if (source) source.close();
      source = null;
      resync();
      break;
    default:
      break; // accepted, and kinds this page does not know
  }
}

function onTurnStart(env) {
  const id = env.messageId || `turn-${env.turn}`;
  let msg = messages.get(id);
  if (!msg) {
    msg = new Msg(id, 'assistant');
    messages.set(id, msg);
  }
  msg.setParts([]); // a replay of an existing message replaces it
  msg.status = 'streaming';
  msg.error = null;
  turnMessages.set(env.turn, id);
  runningTurns.add(env.turn);
  awaitingTurn = false;
  const user = env.userMessageId ? ensureUserMessage(env.userMessageId, env.trigger) : null;
  ensureElement(msg);
  const anchor = user ? user.el : null;
  if (anchor && anchor.nextSibling !== msg.el) anchor.after(msg.el);
  else if (!anchor && !msg.el.isConnected) els.list.appendChild(msg.el);
  markDirty(msg);
  updateComposer();
}

function ensureUserMessage(id, trigger) {
  let user = messages.get(id);
  if (user) {
    if (user.pending) {
      user.pending = false;
      markDirty(user);
    }
    return user;
  }
  // A message this page did not show: a steer that became its own turn, or another client's.
  user = new Msg(id, 'user');
  const local = steers.get(id);
  if (local) {
    user.setParts([{ type: 'text', text: local.text }]);
    user.steer = true;
  } else {
    user.steer = trigger === 'steer';
    fetchMissingText(user);
  }
  messages.set(id, user);
  ensureElement(user);
  els.list.appendChild(user.el);
  markDirty(user);
  return user;
}

async function fetchMissingText(user) {
  try {
    const chat = await api('GET', base);
    const found = (chat?.messages || []).find((m) => m.id === user.id);
    if (found && !user.parts.length) {
      user.setParts(found.parts);
      markDirty(user);
    }
  } catch {
    // the next transcript load shows it
  }
}

function messageForTurn(turn, chunk) {
  let id = turnMessages.get(turn);
  if (!id && chunk && chunk.type === 'start' && chunk.messageId) id = chunk.messageId;
  if (!id) {
    // Joined mid-turn without its start: continue the transcript's newest assistant message.
    const last = [...els.list.children].reverse().find((el) => el.dataset.role === 'assistant');
    id = last ? last.dataset.messageId : `turn-${turn}`;
  }
  turnMessages.set(turn, id);
  let msg = messages.get(id);
  if (!msg) {
    msg = new Msg(id, 'assistant');
    messages.set(id, msg);
    ensureElement(msg);
    els.list.appendChild(msg.el);
  }
  if (!runningTurns.has(turn) && msg.status === 'streaming') runningTurns.add(turn);
  return msg;
}

function onChunk(env) {
  const chunk = env.c;
  if (!chunk || typeof chunk !== 'object') return;
  const msg = messageForTurn(env.turn, chunk);
  const producer = String(env.p || '');
  const attempt = Number(env.a || 1);
  if (attempt < (msg.attempts.get(producer) || 0)) return; // a superseded attempt's write
  msg.attempts.set(producer, attempt);
  applyChunk(msg, chunk, producer);
  markDirty(msg);
}

function onAttemptStart(env) {
  const id = turnMessages.get(env.turn);
  const msg = id && messages.get(id);
  if (!msg) return;
  const producer = String(env.p || '');
  msg.attempts.set(producer, Number(env.a || 1));
  const dropped = new Set(msg.parts.filter((e) => e.producer === producer).map((e) => e.part));
  msg.parts = msg.parts.filter((e) => e.producer !== producer);
  for (const [key, part] of msg.open) if (dropped.has(part)) msg.open.delete(key);
  markDirty(msg);
}

function onInput(env) {
  if (env.kind !== 'steer') return;
  const local = steers.get(env.messageId);
  if (local) {
    local.injected = true;
    local.state = env.state || 'injected';
  }
  const id = turnMessages.get(env.turn);
  const msg = id && messages.get(id);
  if (!msg) return;
  // The data-steer part that follows carries the text; until then show what we know.
  if (!findPart(msg, (p) => p.type === 'data-steer' && p.id === env.messageId)) {
    msg.parts.push({
      producer: String(env.p || ''),
      part: { type: 'data-steer', id: env.messageId, data: { text: local?.text || '' } },
    });
  }
  markDirty(msg);
}

function onTurnEnd(turn, status, error) {
  runningTurns.delete(turn);
  const id = turnMessages.get(turn);
  const msg = id && messages.get(id);
  if (msg) {
    msg.status = ['completed', 'stopped', 'failed'].includes(status) ? status : 'completed';
    if (error) msg.error = String(error);
    for (const part of msg.open.values()) part.state = 'done';
    msg.open.clear();
    markDirty(msg);
  }
  if (!runningTurns.size) stopping = false;
  updateComposer();
}

function onSettled(env) {
  const message = env.message;
  if (message && message.id) {
    let msg = messages.get(message.id);
    if (!msg) {
      msg = new Msg(message.id, 'assistant');
      messages.set(message.id, msg);
      ensureElement(msg);
      els.list.appendChild(msg.el);
    }
    msg.setParts(message.parts);
    turnMessages.set(env.turn, message.id);
    const meta = message.metadata || {};
    onTurnEnd(env.turn, meta.status || 'completed', meta.error);
  } else {
    onTurnEnd(env.turn, 'completed');
  }
}

// -- folding chunks into parts (as agentchat's MessageBuilder does) ---------------------------

function findPart(msg, predicate) {
  const entry = msg.parts.find((e) => predicate(e.part));
  return entry ? entry.part : null;
}

function addPart(msg, producer, part) {
  msg.parts.push({ producer, part });
  return part;
}

function applyChunk(msg, c, producer) {
  const kind = String(c.type || '');
  if (kind === 'start') {
    return;
  }
  if (kind === 'start-step') {
    addPart(msg, producer, { type: 'step-start' });
  } else if (kind === 'text-start' || kind === 'reasoning-start') {
    const type = kind.split('-')[0];
    const part = addPart(msg, producer, { type, text: '', state: 'streaming' });
    msg.open.set(`${type}:${c.id}`, part);
  } else if (kind === 'text-delta' || kind === 'reasoning-delta') {
    const type = kind.split('-')[0];
    let part = msg.open.get(`${type}:${c.id}`);
    if (!part) {
      part = addPart(msg, producer, { type, text: '', state: 'streaming' });
      msg.open.set(`${type}:${c.id}`, part);
    }
    part.text += c.delta || '';
  } else if (kind === 'text-end' || kind === 'reasoning-end') {
    const type = kind.split('-')[0];
    const part = msg.open.get(`${type}:${c.id}`);
    if (part) part.state = 'done';
    msg.open.delete(`${type}:${c.id}`);
  } else if (kind.startsWith('tool-')) {
    applyToolChunk(msg, kind, c, producer);
  } else if (kind.startsWith('data-')) {
    if (c.transient) return;
    if (c.id != null) {
      const existing = findPart(msg, (p) => p.type === kind && p.id === c.id);
      if (existing) {
        existing.data = c.data;
        return;
      }
    }
    const part = { type: kind, data: c.data };
    if (c.id != null) part.id = c.id;
    addPart(msg, producer, part);
  } else if (kind === 'error') {
    msg.error = c.errorText || 'error';
  } else if (kind === 'finish' || kind === 'abort') {
    for (const part of msg.open.values()) part.state = 'done';
    msg.open.clear();
  } else if (kind === 'reset-step') {
    msg.parts = msg.parts.filter((e) => e.producer !== producer);
  }
}

function applyToolChunk(msg, kind, c, producer) {
  const callId = c.toolCallId || '';
  let part = findPart(msg, (p) => p.toolCallId === callId);
  if (!part && (kind === 'tool-input-start' || 'toolName' in c)) {
    const name = c.toolName || 'tool';
    part = c.dynamic
      ? { type: 'dynamic-tool', toolName: name, toolCallId: callId, state: 'input-streaming' }
      : { type: `tool-${name}`, toolCallId: callId, state: 'input-streaming' };
    part.input = undefined;
    addPart(msg, producer, part);
  }
  if (!part) return;
  switch (kind) {
    case 'tool-input-delta':
      part.inputText = (part.inputText || '') + (c.inputTextDelta || '');
      break;
    case 'tool-input-available':
      part.input = c.input;
      part.state = 'input-available';
      delete part.inputText;
      break;
    case 'tool-input-error':
      part.input = c.input;
      part.state = 'output-error';
      part.errorText = c.errorText || '';
      break;
    case 'tool-output-available':
      part.output = c.output;
      part.state = 'output-available';
      if (c.preliminary && isSnapshot(c.output)) part.progress = c.output; // a sub-agent's
      if (c.preliminary) part.preliminary = true;
      else delete part.preliminary;
      break;
    case 'tool-output-error':
      part.state = 'output-error';
      part.errorText = c.errorText || '';
      break;
    case 'tool-approval-request':
      part.state = 'approval-requested';
      part.approval = { id: c.approvalId };
      break;
    case 'tool-output-denied':
      part.state = 'output-denied';
      break;
    default:
      break;
  }
}

// -- rendering -----------------------------------------------------------------------------------

const dirty = new Set();
let flushScheduled = false;

function markDirty(msg) {
  dirty.add(msg);
  if (flushScheduled) return;
  flushScheduled = true;
  // requestAnimationFrame batches a burst of chunks into one paint; the timeout covers
  // background tabs, where animation frames do not run.
  requestAnimationFrame(flush);
  setTimeout(flush, 120);
}

function flush() {
  if (!flushScheduled) return;
  flushScheduled = false;
  const stick = nearBottom();
  for (const msg of dirty) renderMessage(msg);
  dirty.clear();
  els.empty.hidden = els.list.children.length > 0;
  if (stick) scrollToBottom();
}

function nearBottom() {
  const s = els.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
}

function scrollToBottom() {
  els.scroller.scrollTop = els.scroller.scrollHeight;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'title')
      el.setAttribute(key, value === true ? '' : String(value));
    else el[key] = value;
  }
  for (const child of children) if (child != null) el.append(child);
  return el;
}

function ensureElement(msg) {
  if (msg.el) return msg.el;
  const body = h('div', { class: 'body' });
  const el = h(
    'li',
    { class: `msg msg-${msg.role}`, 'data-testid': 'message' },
    msg.role === 'assistant' ? h('div', { class: 'avatar', 'aria-hidden': 'true' }) : null,
    h('div', { class: 'bubble' }, body),
  );
  el._body = body;
  msg.el = el;
  return el;
}

function renderMessage(msg) {
  const el = ensureElement(msg);
  el.dataset.role = msg.role;
  el.dataset.messageId = msg.id;
  el.dataset.status = msg.status;
  el.classList.toggle('pending', msg.pending);
  el.classList.toggle('is-steer', msg.steer);
  const body = el._body;
  const nodes = [];
  const visible = msg.parts.map((e) => e.part).filter(shownPart);
  for (const part of visible) nodes.push(renderPart(body, part, msg));
  if (msg.role === 'assistant') {
    if (msg.status === 'streaming' && !visible.some((p) => p.type === 'text' && p.text)) {
      nodes.push(keep(body, 'typing', () => h('div', { class: 'typing', 'aria-label': 'thinking' },
        h('span'), h('span'), h('span'))));
    }
    if (msg.status === 'stopped') {
      nodes.push(keep(body, 'status-stopped', () =>
        h('div', { class: 'status-line stopped', 'data-testid': 'message-stopped' }, 'Stopped')));
    }
    if (msg.status === 'failed' || msg.error) {
      const node = keep(body, 'status-failed', () =>
        h('div', { class: 'status-line failed', 'data-testid': 'message-error' }));
      node.textContent = msg.error ? `Failed: ${msg.error}` : 'The answer failed.';
      nodes.push(node);
    }
  }
  if (msg.steer && msg.role === 'user') {
    nodes.unshift(keep(body, 'steer-tag', () => h('div', { class: 'steer-tag' }, 'steer')));
  }
  // Put the nodes in order, dropping what no longer shows.
  let cursor = body.firstChild;
  for (const node of nodes) {
    if (node !== cursor) body.insertBefore(node, cursor);
    else cursor = cursor.nextSibling;
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

function keep(body, key, make) {
  for (const child of body.children) if (child._key === key) return child;
  const node = make();
  node._key = key;
  return node;
}

function shownPart(part) {
  if (!part || typeof part !== 'object') return false;
  const type = part.type || '';
  if (type === 'text') return Boolean(part.text) || part.state === 'streaming';
  if (type === 'reasoning') return Boolean(part.text);
  if (type === 'dynamic-tool' || type.startsWith('tool-')) return true;
  if (type === 'data-steer') return true;
  if (type === 'source-url') return true;
  return false; // step-start, other data-* parts, files
}

function nodeFor(body, part, make) {
  for (const child of body.children) if (child._part === part) return child;
  const node = make();
  node._part = part;
  return node;
}

function renderPart(body, part, msg) {
  const type = part.type;
  if (type === 'text') {
    const node = nodeFor(body, part, () => h('div', { class: 'text', 'data-testid': 'message-text' }));
    if (node.textContent !== part.text) node.textContent = part.text;
    node.classList.toggle('live', msg.status === 'streaming' && part.state === 'streaming');
    return node;
  }
  if (type === 'reasoning') {
    const node = nodeFor(body, part, () =>
      h('details', { class: 'reasoning' }, h('summary', {}, 'Reasoning'), h('div', { class: 'reasoning-text' })));
    node.lastChild.textContent = part.text;
    return node;
  }
  if (type === 'data-steer') {
    const node = nodeFor(body, part, () =>
      h('div', { class: 'note steer-note', 'data-testid': 'steer-note' },
        h('span', { class: 'note-icon', 'aria-hidden': 'true' }, '↪'),
        h('span', { class: 'note-label' }, 'Steered'),
        h('span', { class: 'note-text' })));
    const data = part.data || {};
    const local = steers.get(part.id);
    node.lastChild.textContent = data.text || local?.text || '';
    return node;
  }
  if (type === 'source-url') {
    const node = nodeFor(body, part, () => h('a', { class: 'source', target: '_blank', rel: 'noopener' }));
    node.href = part.url;
    node.textContent = part.title || part.url;
    return node;
  }
  return renderTool(body, part, msg);
}

function toolName(part) {
  return part.type === 'dynamic-tool' ? part.toolName || 'tool' : part.type.slice(5);
}

function isSnapshot(value) {
  return Boolean(value && typeof value === 'object' && Array.isArray(value.parts) && value.role);
}

function subAgentName(name) {
  return name.startsWith('ask_') ? name.slice(4) : name;
}

function pretty(value) {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function snapshotText(snapshot) {
  return snapshot.parts
    .filter((p) => p && p.type === 'text')
    .map((p) => p.text || '')
    .join('');
}

function renderTool(body, part, msg) {
  const card = nodeFor(body, part, () => {
    const node = h('details', { class: 'tool', 'data-testid': 'tool-card' });
    node.open = true;
    node.append(
      h('summary', { class: 'tool-head' },
        h('span', { class: 'tool-icon', 'aria-hidden': 'true' }),
        h('span', { class: 'tool-name', 'data-testid': 'tool-name' }),
        h('span', { class: 'tool-state', 'data-testid': 'tool-state' })),
      h('div', { class: 'tool-body' }),
    );
    return node;
  });
  const name = toolName(part);
  const snapshot = isSnapshot(part.output) ? part.output : part.progress || null;
  const subAgent = Boolean(snapshot) || name.startsWith('ask_');
  const running = msg.status === 'streaming';
  let stateLabel;
  let state;
  if (part.state === 'output-error') {
    state = 'error';
    stateLabel = 'error';
  } else if (part.state === 'output-denied') {
    state = 'error';
    stateLabel = 'denied';
  } else if (part.state === 'approval-requested') {
    state = 'waiting';
    stateLabel = 'awaiting approval';
  } else if (part.state === 'output-available' && !part.preliminary) {
    state = 'done';
    stateLabel = 'done';
  } else if (running) {
    state = 'running';
    stateLabel = subAgent ? `${subAgentName(name)} is working…` : 'running…';
  } else {
    state = 'interrupted';
    stateLabel = msg.status === 'stopped' ? 'stopped' : 'no result';
  }
  card.dataset.toolName = name;
  card.dataset.state = state;
  card.dataset.toolState = part.state || '';
  card.querySelector('.tool-name').textContent = name;
  card.querySelector('.tool-state').textContent = stateLabel;

  const sections = [];
  const toolBody = card.querySelector('.tool-body');
  const input = part.input !== undefined ? pretty(part.input) : part.inputText || '';
  if (input) sections.push(section(toolBody, 'input', 'Input', input));
  const final = part.state === 'output-available' && !part.preliminary;
  if (snapshot && !final) {
    const text = snapshotText(snapshot);
    const node = keep(toolBody, 'progress', () =>
      h('div', { class: 'tool-section progress', 'data-testid': 'tool-progress' },
        h('div', { class: 'tool-label' }),
        h('div', { class: 'progress-text' })));
    node.firstChild.textContent = running
      ? `${subAgentName(name)} is working…` : `${subAgentName(name)} (interrupted)`;
    node.lastChild.textContent = text;
    node.classList.toggle('live', Boolean(part.preliminary) && running);
    sections.push(node);
  }
  if (final) {
    const label = subAgent ? `${subAgentName(name)} answered` : 'Output';
    const node = section(toolBody, 'output', label, pretty(part.output));
    node.classList.toggle('prose', subAgent && typeof part.output === 'string');
    sections.push(node);
  }
  if (part.state === 'output-error' || part.state === 'output-denied') {
    sections.push(section(toolBody, 'error', 'Error', part.errorText || 'denied'));
  }
  let cursor = toolBody.firstChild;
  for (const node of sections) {
    if (node !== cursor) toolBody.insertBefore(node, cursor);
    else cursor = cursor.nextSibling;
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
  return card;
}

function section(parent, key, label, text) {
  const node = keep(parent, key, () =>
    h('div', { class: `tool-section ${key}`, 'data-testid': `tool-${key}` },
      h('div', { class: 'tool-label' }, label),
      h('pre', { class: 'tool-pre' })));
  node.firstChild.textContent = label;
  const pre = node.lastChild;
  if (pre.textContent !== text) pre.textContent = text;
  return node;
}

// -- chrome: header, connection, composer -----------------------------------------------------

function renderChrome() {
  els.newChat.hidden = Boolean(token); // a token opens its own chat only
  els.agentName.textContent = agent;
  els.emptyAgent.textContent = agent;
  els.chatIdLabel.textContent = chatId.length > 14 ? `${chatId.slice(0, 8)}…` : chatId;
  els.chatIdLabel.title = `Chat ${chatId}`;
  els.empty.hidden = els.list.children.length > 0;
  updateComposer();
}

function setConnection(state) {
  els.conn.dataset.state = state;
  const labels = {
    open: 'live',
    connecting: 'connecting',
    offline: 'reconnecting',
    idle: 'ready',
    closed: 'closed',
  };
  els.connLabel.textContent = labels[state] || state;
  els.conn.title = `Event stream: ${labels[state] || state}`;
}

function turnActive() {
  if (awaitingTurn && Date.now() - awaitingSince > 60000) awaitingTurn = false;
  return runningTurns.size > 0 || awaitingTurn;
}

function updateComposer() {
  const active = turnActive();
  els.form.dataset.mode = active ? 'steer' : 'send';
  els.send.hidden = active;
  els.steer.hidden = !active;
  els.stop.hidden = !active;
  els.stop.disabled = stopping;
  els.input.placeholder = active ? 'Steer the answer… (Enter to steer)' : `Message ${agent}…`;
  els.hint.textContent = active
    ? 'The agent is answering: what you type now steers it · Stop ends the answer'
    : 'Enter to send · Shift+Enter for a new line';
}

function autosize() {
  els.input.style.height = 'auto';
  els.input.style.height = `${Math.min(els.input.scrollHeight, 220)}px`;
}

els.input.addEventListener('input', autosize);
els.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});

els.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = els.input.value.trim();
  if (!text) return;
  els.input.value = '';
  autosize();
  if (turnActive()) steer(text);
  else send(text);
});

els.stop.addEventListener('click', stop);

els.newChat.addEventListener('click', (event) => {
  event.preventDefault();
  const next = new URLSearchParams(params);
  next.set('chat', newChatId());
  location.search = `?${next}`;
});

async function send(text) {
  hideError();
  const id = `msg-${newChatId()}`;
  const msg = new Msg(id, 'user');
  msg.setParts([{ type: 'text', text }]);
  msg.pending = true;
  messages.set(id, msg);
  ensureElement(msg);
  els.list.appendChild(msg.el);
  markDirty(msg);
  scrollToBottom();
  awaitingTurn = true;
  awaitingSince = Date.now();
  updateComposer();
  try {
    const ack = await api('POST', `${base}/messages`, { agent, message: text, message_id: id });
    chatKnown = true;
    quietCloses = 0;
    if (!source) openEvents((ack && ack.after) || lastEventId || resumeAfter || '0-0');
  } catch (err) {
    showError(err);
    msg.el?.remove();
    messages.delete(id);
    awaitingTurn = false;
    els.input.value = els.input.value || text;
    autosize();
    updateComposer();
    flush();
  }
}

async function steer(text) {
  hideError();
  const id = `msg-${newChatId()}`;
  steers.set(id, { text, injected: false });
  try {
    const ack = await api('POST', `${base}/steer`, { agent, message: text, message_id: id });
    if (ack && ack.injected === false && !messages.has(id)) {
      // No step left to take it: it runs as the next turn. Show it as a queued message.
      const msg = new Msg(id, 'user');
      msg.setParts([{ type: 'text', text }]);
      msg.pending = true;
      msg.steer = true;
      messages.set(id, msg);
      ensureElement(msg);
      els.list.appendChild(msg.el);
      markDirty(msg);
      awaitingTurn = true;
      awaitingSince = Date.now();
      updateComposer();
    }
  } catch (err) {
    steers.delete(id);
    showError(err);
    els.input.value = els.input.value || text;
    autosize();
  }
}

async function stop() {
  hideError();
  stopping = true;
  updateComposer();
  try {
    const answer = await api('POST', `${base}/stop`, {});
    if (!answer || answer.turn == null) {
      // Nothing was running (the turn had not started or already ended).
      awaitingTurn = false;
      stopping = false;
    }
  } catch (err) {
    stopping = false;
    showError(err);
  }
  updateComposer();
}

// Expose a little for debugging in the console (and for tests that want the chat id).
window.agentchat = {
  chatId,
  get agent() { return agent; },
  get lastEventId() { return lastEventId; },
  get streamState() { return source ? source.readyState : -1; },
  messages,
};

renderChrome();
load();
els.input.focus();
