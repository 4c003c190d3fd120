// Drawing the page: the message list (batched to one paint per frame), the header, the
// connection badge, the composer's mode and the error banner. Every DOM write of the
// conversation is here (sidebar.js draws the list of chats).

import { fileSrc } from './api.js';
import { config } from './config.js';
import { isToolPart } from './fold.js';
import { resources, state, steers, turnActive } from './state.js';

const $ = (selector, root = document) => root.querySelector(selector);

export const els = {
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
  triggers: $('[data-testid="triggers"]'),
  triggerForm: $('[data-testid="trigger-form"]'),
  resources: $('[data-testid="resources"]'),
  resourceList: $('.resource-list'),
};

// -- the error banner --------------------------------------------------------------------------

export function showError(err) {
  const type = err && err.type ? err.type : 'Error';
  const message = err && err.message ? err.message : String(err);
  els.bannerType.textContent = type;
  els.bannerMessage.textContent = message;
  els.banner.hidden = false;
}

export function hideError() {
  els.banner.hidden = true;
}

// -- batching ----------------------------------------------------------------------------------

const dirty = new Set();
let flushScheduled = false;

/** Redraw `msg` with the next paint. */
export function markDirty(msg) {
  dirty.add(msg);
  if (flushScheduled) return;
  flushScheduled = true;
  // requestAnimationFrame batches a burst of chunks into one paint; the timeout covers
  // background tabs, where animation frames do not run.
  requestAnimationFrame(flush);
  setTimeout(flush, 120);
}

/** Redraw what changed now. */
export function flush() {
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

export function scrollToBottom() {
  els.scroller.scrollTop = els.scroller.scrollHeight;
}

// -- messages ----------------------------------------------------------------------------------

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

/** The message's list item, made on first use (the caller places it in the list). */
export function ensureElement(msg) {
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

/** Append the message's element to the list. */
export function appendMessage(msg) {
  els.list.appendChild(ensureElement(msg));
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
  // History keeps a named thread's answer as one `data-thread` part (the thread's messages
  // are the chat's apart): shown as the text the live stream's tagged parts showed.
  const visible = msg.parts.map(threadText).filter(shownPart);
  const boxes = new Map(); // thread name -> {node, parts}
  for (const part of visible) {
    const thread = threadOf(part);
    if (thread === null) {
      nodes.push(renderPart(body, part, msg));
      continue;
    }
    let box = boxes.get(thread);
    if (!box) {
      box = { node: threadBox(body, thread), parts: [] };
      boxes.set(thread, box);
      nodes.push(box.node);
    }
    box.parts.push(part);
  }
  for (const { node, parts } of boxes.values()) {
    const content = node.lastChild;
    arrange(content, parts.map((part) => renderPart(content, part, msg)));
    node.dataset.status = parts.some((p) => p.state === 'streaming') ? 'streaming' : 'done';
  }
  if (msg.role === 'assistant') {
    const answered = visible.some((p) => p.type === 'text' && p.text && threadOf(p) === null);
    if (msg.status === 'streaming' && !answered) {
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
  arrange(body, nodes);
}

/** Put `nodes` in order as `parent`'s children, dropping the children not among them. */
function arrange(parent, nodes) {
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node !== cursor) parent.insertBefore(node, cursor);
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
  if (isToolPart(part)) return toolDisplay(part).display !== 'hidden';
  if (type === 'data-operation') return Boolean(part.data);
  if (type === 'data-steer') return true;
  if (type === 'source-url') return true;
  if (type === 'file') return Boolean(part.url);
  return false; // step-start, other data-* parts
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
  if (type === 'file') return renderFile(body, part);
  if (type === 'data-operation') return renderOperation(body, part);
  return renderTool(body, part, msg);
}

// -- the agent protocol: threads, operations --------------------------------------------------

/** The named thread a text or reasoning part belongs to (`providerMetadata.agentchat.thread`),
 * or null for the main answer. */
export function threadOf(part) {
  if (part.type !== 'text' && part.type !== 'reasoning') return null;
  const thread = part.providerMetadata?.agentchat?.thread;
  return typeof thread === 'string' && thread && thread !== 'main' ? thread : null;
}

/** A `data-thread` part as the text part its thread answered (other parts as they are). */
function threadText(part) {
  if (part?.type !== 'data-thread' || !part.data) return part;
  let text = threadTexts.get(part); // the same object each render: its node is kept
  if (!text) {
    const thread = String(part.data.thread || '');
    text = { type: 'text', text: String(part.data.text || ''), state: 'done',
      providerMetadata: { agentchat: { thread } } };
    threadTexts.set(part, text);
  }
  return text;
}
const threadTexts = new WeakMap();

/** A named thread's answer: a collapsed box titled with the thread's name. */
function threadBox(body, thread) {
  return keep(body, `thread:${thread}`, () => {
    const node = h('details', { class: 'thread-box', 'data-testid': 'thread-box', 'data-thread': thread },
      h('summary', { class: 'thread-head' },
        h('span', { class: 'thread-icon', 'aria-hidden': 'true' }),
        h('span', { class: 'thread-name', 'data-testid': 'thread-name', text: thread })),
      h('div', { class: 'thread-body' }));
    node.open = false;
    return node;
  });
}

const OPERATION_STATUS = { running: 'running…', done: 'done', failed: 'failed' };

/** A block of a trigger's handler at work: its label and status, updated in place. */
function renderOperation(body, part) {
  const node = nodeFor(body, part, () =>
    h('div', { class: 'operation', 'data-testid': 'operation' },
      h('span', { class: 'op-icon', 'aria-hidden': 'true' }),
      h('span', { class: 'op-label', 'data-testid': 'operation-label' }),
      h('span', { class: 'op-status', 'data-testid': 'operation-status' })));
  const data = part.data || {};
  const status = ['running', 'done', 'failed'].includes(data.status) ? data.status : 'running';
  node.dataset.opId = part.id || '';
  node.dataset.kind = data.kind || '';
  node.dataset.status = status;
  if (data.thread) node.dataset.thread = data.thread;
  else delete node.dataset.thread;
  node.children[1].textContent = data.label || data.kind || 'operation';
  node.children[2].textContent = OPERATION_STATUS[status];
  return node;
}

/** How a tool's calls show (`callProviderMetadata.agentchat`): stream (all), name,
 * description, hidden. */
function toolDisplay(part) {
  const meta = part.callProviderMetadata?.agentchat || part.providerMetadata?.agentchat || {};
  const display = ['hidden', 'name', 'description'].includes(meta.display) ? meta.display : 'stream';
  return { display, description: typeof meta.description === 'string' ? meta.description : '' };
}

// -- resources --------------------------------------------------------------------------------

/** The resources panel: each resource's current value. */
export function renderResources() {
  const rows = [];
  for (const [name, value] of resources) {
    let row = null;
    for (const child of els.resourceList.children) if (child._name === name) row = child;
    if (!row) {
      row = h('div', { class: 'resource', 'data-testid': 'resource', 'data-name': name },
        h('dt', { class: 'resource-name', text: name }),
        h('dd', { class: 'resource-value', 'data-testid': 'resource-value' }));
      row._name = name;
    }
    const text = value === null || value === undefined ? '—' : pretty(value);
    if (row.lastChild.textContent !== text) row.lastChild.textContent = text;
    rows.push(row);
  }
  arrange(els.resourceList, rows);
  els.resources.hidden = rows.length === 0;
}

/** An image as a preview (a link to the whole), any other file as a link with its name. */
function renderFile(body, part) {
  const image = (part.mediaType || '').startsWith('image/');
  const node = nodeFor(body, part, () =>
    h('a', { class: image ? 'file file-image' : 'file', 'data-testid': 'message-file',
      target: '_blank', rel: 'noopener' }));
  const src = fileSrc(part);
  if (node.getAttribute('href') !== src) {
    node.href = src;
    node.title = part.filename || part.mediaType || 'file';
    node.replaceChildren(image
      ? h('img', { src, alt: part.filename || 'image', loading: 'lazy' })
      : h('span', { class: 'file-name', text: part.filename || part.mediaType || 'file' }));
  }
  return node;
}

// -- tool cards --------------------------------------------------------------------------------

function toolName(part) {
  return (part.type === 'dynamic-tool' ? part.toolName : part.type.slice(5)) || 'tool';
}

/** A sub-agent's answer so far: a UIMessage as a (preliminary) tool output. */
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
  const snapshot = isSnapshot(part.output) ? part.output : null;
  const subAgent = Boolean(snapshot) || name.startsWith('ask_');
  const running = msg.status === 'streaming';
  let stateLabel;
  let toolState;
  if (part.state === 'output-error') {
    toolState = 'error';
    stateLabel = 'error';
  } else if (part.state === 'output-denied') {
    toolState = 'error';
    stateLabel = 'denied';
  } else if (part.state === 'approval-requested') {
    toolState = 'waiting';
    stateLabel = 'awaiting approval';
  } else if (part.state === 'output-available' && !part.preliminary) {
    toolState = 'done';
    stateLabel = 'done';
  } else if (running) {
    toolState = 'running';
    stateLabel = subAgent ? `${subAgentName(name)} is working…` : 'running…';
  } else {
    toolState = 'interrupted';
    stateLabel = msg.status === 'stopped' ? 'stopped' : 'no result';
  }
  card.dataset.toolName = name;
  card.dataset.state = toolState;
  card.dataset.toolState = part.state || '';
  card.querySelector('.tool-name').textContent = name;
  card.querySelector('.tool-state').textContent = stateLabel;

  const sections = [];
  const toolBody = card.querySelector('.tool-body');
  const { display, description } = toolDisplay(part);
  card.dataset.display = display;
  if (display !== 'stream') {
    // Only its name, or its name and description: never its input nor its output.
    if (display === 'description' && description) {
      const node = keep(toolBody, 'description', () =>
        h('div', { class: 'tool-section description', 'data-testid': 'tool-description' }));
      node.textContent = description;
      sections.push(node);
    }
    arrange(toolBody, sections);
    card.classList.toggle('tool-compact', sections.length === 0);
    return card;
  }
  // Until the whole input arrives, what has streamed of it.
  const input = part.input != null ? pretty(part.input) : msg.fold.inputText(part);
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
  arrange(toolBody, sections);
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

// -- chrome: header, connection, composer ------------------------------------------------------

export function renderChrome() {
  const { chatId, agent } = config;
  els.newChat.hidden = Boolean(config.token); // a token opens its own chat only
  els.agentName.textContent = agent;
  els.emptyAgent.textContent = agent;
  els.chatIdLabel.textContent = chatId.length > 14 ? `${chatId.slice(0, 8)}…` : chatId;
  els.chatIdLabel.title = `Chat ${chatId}`;
  els.empty.hidden = els.list.children.length > 0;
  updateComposer();
}

const CONNECTION_LABELS = {
  open: 'live',
  connecting: 'connecting',
  offline: 'reconnecting',
  idle: 'ready',
  closed: 'closed',
};

/** Show the event stream's state: open, connecting, offline, idle or closed. */
export function setConnection(connection) {
  const label = CONNECTION_LABELS[connection] || connection;
  els.conn.dataset.state = connection;
  els.connLabel.textContent = label;
  els.conn.title = `Event stream: ${label}`;
}

/** The composer sends while the chat is idle, and steers or stops while it answers. */
export function updateComposer() {
  const active = turnActive();
  els.form.dataset.mode = active ? 'steer' : 'send';
  els.send.hidden = active;
  els.steer.hidden = !active;
  els.stop.hidden = !active;
  els.stop.disabled = state.stopping;
  els.input.placeholder = active ? 'Steer the answer… (Enter to steer)' : `Message ${config.agent}…`;
  els.hint.textContent = active
    ? 'The agent is answering: what you type now steers it · Stop ends the answer'
    : 'Enter to send · Shift+Enter for a new line';
}
